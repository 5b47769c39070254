"""Writes jinja_conformance_cases.json: templates with the output jinja2 gives them when set up
as transformers' apply_chat_template sets it up. jinja_conformance_test.cpp renders each case
with troupe's interpreter and compares bytes (or, where jinja2 raised, expects an error too).

Run with jinja2 3.1 installed:  python3 tests/engine/template/make_jinja_cases.py
The whitespace cases are random but seeded, so the file is reproducible.
"""
import json
import os
import random
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def transformers_env():
    # Mirrors transformers.utils.chat_template_utils._compile_jinja_template (without the
    # {% generation %} extension, which the C++ tests cover separately).
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


CONTEXT = {
    "x": "X",
    "n": 3,
    "f": 2.5,
    "messages": [
        {"role": "system", "content": "  sys  "},
        {"role": "user", "content": "héllo 日本 😀"},
        {"role": "assistant", "content": "<think>\nr\n</think>\n\nok", "tool_calls": [
            {"function": {"name": "f", "arguments": {"zeta": 1, "alpha": [1.5, None, True]}}}]},
    ],
}

EXPRESSIONS = [
    "{{ messages[1].content|length }}{{ messages[1].content[::-1] }}{{ messages[1].content[6:8] }}",
    "{{ messages[2].tool_calls[0].function.arguments|tojson }}{{ messages[2].tool_calls[0].function.arguments }}",
    "{{ messages|map(attribute='role')|join(',') }}|{{ messages|selectattr('role', 'ne', 'user')|list|length }}",
    "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{{ loop.last }}{% endfor %}",
    "{% set ns = namespace(i=-1) %}{% for m in messages[::-1] %}{% if ns.i < 0 and m.role == 'user' %}{% set ns.i = loop.revindex0 %}{% endif %}{% endfor %}{{ ns.i }}",
    "{{ messages[0].content|trim }}|{{ messages[0].content.strip() }}|{{ messages[0]['content'] | trim + '!' }}",
    "{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ '</think>' in messages[2].content }}",
    "{{ n / 2 }} {{ n // 2 }} {{ n % 2 }} {{ f * 2 }} {{ -n }} {{ n ** 2 }} {{ f|int }} {{ n|float }} {{ 1e100 }}",
    "{{ x ~ n ~ f ~ none ~ true }}{{ x * 2 }}{{ [x] * 2 }}{{ x + 'y' }}",
    "{{ x is string }}{{ n is number }}{{ f is float }}{{ messages is sequence }}{{ messages[0] is mapping }}{{ y is defined }}",
    "{{ y|default('d') }}{{ none|default('d') }}{{ ''|default('d', true) }}{{ x|d('e') }}",
    "{{ {'b': 1, 'a': [1, 'two', none]}|tojson(indent=2) }}",
    "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}{{ 'é'|tojson }}{{ 'é'|tojson(ensure_ascii=true) }}",
    "{{ 'a\\tb\\n' }}|{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\", '\\n', 'é'] }}",
    "{{ 'Hello World'.lower() }}{{ 'hello world'.title() }}{{ 'hello world'|title }}{{ 'hello'|capitalize }}",
    "{{ '  a  b  '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'abc'.startswith(('x', 'a')) }}",
    "{{ range(10)|select('odd')|list }}{{ range(10)|reject('even')|sum }}{{ [3, 1, 2]|sort|first }}{{ [3, 1, 2]|max }}",
    "{{ 'a' if n > 2 else 'b' }}{{ 'c' if n < 2 }}{{ n > 2 and 'yes' or 'no' }}{{ not messages }}",
    "{% macro row(k, v='-') %}{{ k }}={{ v }};{% endmacro %}{{ row('a') }}{{ row('b', 2) }}{{ row(v=3, k='c') }}",
    "{% for k, v in messages[0]|items %}{{ k }}:{{ v|trim }};{% endfor %}",
    "{% for i in range(5) %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% if i > 2 %}{% break %}{% endif %}{% endfor %}",
    "{% set a, b = messages[:2] %}{{ a.role }}{{ b.role }}",
    "{{ messages[5] }}|{{ messages[0].nothing }}|{{ none.x }}",
    "{{ y.z }}",
    "{{ x + 1 }}",
    "{{ raise_exception('custom ' ~ n) }}",
    "{% for c in 5 %}{% endfor %}",
]

TEXTS = ["", " ", "  ", "\n", "\n  ", "  \n", "a", " a ", "\n\n", "\t", "x\n  ", " \u3000", "\r\n"]


def random_block(rng, depth):
    def tag(body):
        return "{%" + rng.choice(["", "-", "+"]) + " " + body + " " + rng.choice(["", "-", "+"]) + "%}"

    out = []
    for _ in range(rng.randint(1, 3)):
        out.append(rng.choice(TEXTS))
        r = rng.random()
        if r < 0.25:
            out.append("{{" + rng.choice(["", "-"]) + " x " + rng.choice(["", "-"]) + "}}")
        elif r < 0.35:
            out.append("{#" + rng.choice(["", "-", "+"]) + " c " + rng.choice(["", "-", "+"]) + "#}")
        elif r < 0.55 and depth < 2:
            out += [tag("if " + rng.choice(["true", "false"])), random_block(rng, depth + 1)]
            if rng.random() < 0.4:
                out += [rng.choice(TEXTS), tag("else"), random_block(rng, depth + 1)]
            out += [rng.choice(TEXTS), tag("endif")]
        elif r < 0.75 and depth < 2:
            out += [tag("for i in [1, 2]"), random_block(rng, depth + 1), rng.choice(TEXTS), tag("endfor")]
        elif r < 0.85:
            out.append(tag("set y = 1"))
    out.append(rng.choice(TEXTS))
    return "".join(out)


def main():
    env = transformers_env()
    rng = random.Random(20241125)
    templates = [("expr", t) for t in EXPRESSIONS]
    templates += [("ws", random_block(rng, 0)) for _ in range(250)]
    cases = []
    for i, (kind, source) in enumerate(templates):
        case = {"name": f"{kind}{i}", "template": source}
        try:
            case["expected"] = env.from_string(source).render(**CONTEXT)
        except Exception as e:  # the interpreter must fail too
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)
    out = {"generator": "make_jinja_cases.py", "jinja2": jinja2.__version__, "context": CONTEXT, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_conformance_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(path, len(cases), "cases")


if __name__ == "__main__":
    main()
