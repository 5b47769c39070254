# Troupe's cluster wire schema: every engine value that crosses a node boundary between the
# scheduler, the executors and the gateways. CAF serializes these types through this schema
# (wire/caf_wire_inspect.h -> wire/wire_codec.h), so this file is the cluster protocol,
# readable from any language with a Cap'n Proto implementation.
#
# Each message is one Cap'n Proto message in the standard (unpacked) flat-array framing
# (segment table, then segments), with the struct named by the context as its root: a StepPlan
# travels as a message whose root is StepPlan, and so on.
#
# Wire version 2 (see wireVersion below).
#
# Evolution rules -- read before editing. Peers built from different versions of this file
# must keep understanding each other, which Cap'n Proto guarantees only if:
#   - new fields are appended with the next unused ordinal (@N); never renumber, retype or
#     delete a field, never reuse an ordinal. An obsolete field is renamed to obsoleteXxx and
#     left in place;
#   - a new field's default is the value the C++ struct defaults to, so that a message from an
#     older peer (which lacks the field) decodes to what that peer meant;
#   - the defaults of existing fields never change (Cap'n Proto stores values XOR default);
#   - new enumerants and union members are appended; a decoder that meets one it does not know
#     rejects the message (troupe::wire throws std::invalid_argument) rather than guessing;
#   - a field is never moved into or out of a union.
# Renaming a field or a struct is free (names are not on the wire), but other languages'
# generated code changes with them.
#
# Naming: the C++ field foo_bar is fooBar here. Token ids are Int32 (vocabularies fit), sequence
# ids are UInt64 (troupe::SeqId).

@0xc6ece8b35aab8ce5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire::schema");

# Bumped only by a change that breaks the rules above (which should never happen); a changelog
# marker otherwise. History:
#   1: SamplingParams, GenerationRequest, ScheduledSequence, StepPlan, StepResult, KvPoolShape,
#      FinishedSequence.
#      Then, by the rules (no bump): SamplingParams.logprobs, StepResult.logprobs, TokenLogprob,
#      SampleLogprobs.
#      Then PoolJournal, PoolOp, PoolOpKind, PoolStart (scheduler -> kv_manager), new structs
#      (since in wire/pool_journal.capnp: struct ids are not on the wire, so moving them changed
#      no message).
#      Then HiddenStates (pipeline stage -> next stage), a new struct.
#      Then SamplingParams.minTokens, stopTokenIds, logitBias and LogitBias (vLLM's fields).
#      Then TpRankOp, ForwardBatch, SequenceSlice (tensor-parallel rank 0 -> its other ranks),
#      new structs.
#      Then SamplingParams.promptLogprobs, ScheduledSequence.numPromptLogprobs,
#      StepResult.promptLogprobs, SequenceSlice.promptTargets and promptTopN, and the new structs
#      PromptTokenLogprobs and PromptLogprobs (vLLM's prompt_logprobs).
#      Then BackendCapabilities (executor -> a scheduler's process that asked), a new struct.
#   2: StepPlan is a diff (vLLM v1's SchedulerOutput): ScheduledSequence.newBlockIds carries the
#      blocks added since the sequence's previous entry and executors keep the tables; positions,
#      blockTable and slotMapping are no longer sent (renamed obsoleteXxx, left in place). The
#      bytes follow the rules, but the meaning does not: a version-1 executor would read an empty
#      blockTable and index past it, so a cluster's join must refuse to mix the two, which is what
#      this bump is for.
const wireVersion :UInt32 = 2;

# How one request turns logits into tokens (troupe::SamplingParams; defaults are vLLM's).
struct SamplingParams {
  temperature @0 :Float32 = 1.0;
  # Softmax temperature, dimensionless; 0 means greedy (argmax).

  topK @1 :Int32 = 0;
  # Keep only the k most likely tokens; 0 (or -1) keeps every token.

  topP @2 :Float32 = 1.0;
  # Nucleus sampling: the smallest set of most likely tokens whose probability mass reaches
  # topP, in (0, 1]; 1 keeps every token.

  minP @3 :Float32 = 0.0;
  # Drop tokens whose probability is below minP * p(most likely token), in [0, 1].

  repetitionPenalty @4 :Float32 = 1.0;
  # Multiplicative penalty (> 1 discourages) on logits of tokens seen in prompt or output;
  # 1 disables it.

  presencePenalty @5 :Float32 = 0.0;
  # Subtracted once from the logit of every token already generated (logit units).

  frequencyPenalty @6 :Float32 = 0.0;
  # Subtracted from a token's logit once per occurrence in the generated tokens (logit units).

  seed :union {
    # RNG seed of this request: same seed, same text.
    none @7 :Void;
    # No seed: the executor draws from its own generator.
    value @8 :UInt64;
    # The seed.
  }

  maxTokens @9 :Int32 = 16;
  # Most output tokens to generate (tokens, not bytes); an EOS that stops early counts.

  ignoreEos @10 :Bool = false;
  # Keep generating after an EOS token until maxTokens.

  logprobs @11 :Int32 = -1;
  # -1: no log-probabilities. 0..20: the executor returns the sampled token's log-probability
  # and this many most likely alternatives (StepResult.logprobs), from the raw distribution
  # (log_softmax of the logits before penalties and temperature).

  minTokens @12 :Int32 = 0;
  # Fewer output tokens than this: no stop token id is drawn (its logit is -inf) nor ends the
  # sequence, EOS included.

  stopTokenIds @13 :List(Int32);
  # Token ids that end the sequence whatever ignoreEos says (the gateway adds the model's EOS
  # ids here unless ignoreEos, as vLLM's all_stop_token_ids).

  logitBias @14 :List(LogitBias);
  # Added to the raw logits before penalties; token ids unique.

  promptLogprobs @15 :Int32 = -1;
  # -1: none. 0..20: every prompt token after the first is scored (StepResult.promptLogprobs):
  # its log-probability given the prompt before it, its rank and this many most likely
  # alternatives. The scheduler then takes no prefix-cache hit for the request.
}

# One entry of SamplingParams.logitBias.
struct LogitBias {
  tokenId @0 :Int32;
  bias @1 :Float32;
  # Logit units, in [-100, 100].
}

# What a gateway submits to the scheduler, already tokenized and validated
# (troupe::GenerationRequest).
struct GenerationRequest {
  id @0 :UInt64 = 0;
  # Sequence id (troupe::SeqId), unique among live sequences; picked by the gateway.

  promptTokenIds @1 :List(Int32);
  # The prompt's token ids, [prompt_len], not empty.

  samplingParams @2 :SamplingParams;
  # How to sample; its maxTokens counts outputTokenIds below too.

  eosTokenIds @3 :List(Int32);
  # Token ids any of which ends the sequence (unless samplingParams.ignoreEos); may be empty.

  priority @4 :Int32 = 0;
  # Scheduling priority: lower is served earlier; equal priorities are served by arrival.

  arrival :union {
    # Order among requests of equal priority.
    none @5 :Void;
    # Unset: the scheduler orders it after every request it has seen so far.
    value @6 :UInt64;
    # An arrival stamp (a counter, not a time: smaller came earlier); a gateway resubmitting to
    # a restarted scheduler passes the original one so the order survives.
  }

  outputTokenIds @7 :List(Int32);
  # Tokens already generated for this request (a resubmission): recomputed, not regenerated;
  # empty for a fresh request.
}

# One sequence's share of a step: tokens [numComputedTokens, numComputedTokens + n) of it
# (troupe::ScheduledSequence). n = length of tokenIds.
struct ScheduledSequence {
  seqId @0 :UInt64 = 0;
  # Sequence id (troupe::SeqId).

  isNew @1 :Bool = false;
  # First entry since admission or since a preemption: the executor drops any state held for
  # seqId and starts from this entry. Only then are promptTokenIds and outputTokenIds filled.

  promptTokenIds @2 :List(Int32);
  # The whole prompt, [prompt_len], when isNew (penalties need it); else empty.

  outputTokenIds @3 :List(Int32);
  # Tokens generated before a preemption or resubmission, when isNew; else empty.

  numComputedTokens @4 :Int32 = 0;
  # Tokens of this sequence already in the KV cache (prefix-cache hits included); the
  # position of tokenIds[0].

  tokenIds @5 :List(Int32);
  # The n token ids to compute this step. A decode (n = 1, not isNew) may hold -1
  # (kTokenSampledByExecutor): the token the executor sampled last for this sequence, which the
  # scheduler did not know yet when it planned this step during the previous one.

  obsoletePositions @6 :List(Int32);
  # Wire version 1: [n] position of each token, numComputedTokens + i. Not sent since version 2:
  # the executor derives it from numComputedTokens.

  obsoleteBlockTable @7 :List(Int32);
  # Wire version 1: the sequence's whole block table, every step. Not sent since version 2:
  # newBlockIds carries what was added, and the executor keeps the table.

  obsoleteSlotMapping @8 :List(Int32);
  # Wire version 1: [n] KV cache slot of each token. Not sent since version 2: the executor
  # derives it from the kept block table (table[pos / blockSize] * blockSize + pos % blockSize).

  wantsLogits @9 :Bool = false;
  # This step reaches the end of the known tokens, so its last position is sampled (false for a
  # prefill chunk that does not).

  numOutputTokens @10 :Int32 = 0;
  # Tokens generated so far; a token sampled now is output number numOutputTokens (0-based),
  # the seeded RNG's position, so a resumed sequence draws what it would have.

  samplingParams @11 :SamplingParams;
  # How to sample this sequence.

  numPromptLogprobs @12 :Int32 = 0;
  # samplingParams.promptLogprobs >= 0: the first this many of tokenIds are scored against the
  # prompt token that follows each (prompt positions numComputedTokens + 1, ...); 0 otherwise.

  newBlockIds @13 :List(Int32);
  # [k] physical KV blocks appended to this sequence's block table since its previous entry
  # (often none); its whole table when isNew. The executor keeps each sequence's table from its
  # isNew entry until its id comes in finishedSeqIds or preemptedSeqIds; with these appended it
  # covers at least numComputedTokens + n tokens. An entry that is not isNew for a sequence the
  # executor holds no table for is an error (a plan was lost), never computed.
}

# What one iteration computes: scheduler -> executors (troupe::StepPlan). Executors apply
# finishedSeqIds and preemptedSeqIds before the entries of sequences. A plan is a diff against the
# plans before it (ScheduledSequence.newBlockIds): every plan reaches an executor, in stepId order.
struct StepPlan {
  stepId @0 :UInt64 = 0;
  # Step number, increasing; the StepResult carries it back.

  blockSize @1 :Int32 = 16;
  # Tokens per KV block (for slot arithmetic).

  sequences @2 :List(ScheduledSequence);
  # Decodes first, then prefill chunks, then admissions; sampled tokens come back in this order.

  finishedSeqIds @3 :List(UInt64);
  # Sequences finished or aborted since the previous plan: drop their state; their blocks may
  # be reused from this step on.

  preemptedSeqIds @4 :List(UInt64);
  # Sequences preempted by this plan: drop their state; they come back later as isNew.

  numBatchedTokens @5 :Int32 = 0;
  # Sum of the tokenIds lengths of all entries (tokens), <= the scheduler's budget.

  numCachedTokens @6 :Int32 = 0;
  # Prefix-cache hit tokens of this plan's admissions (tokens; for metrics).
}

# The answer to one StepPlan: executor -> scheduler (troupe::StepResult).
struct StepResult {
  stepId @0 :UInt64 = 0;
  # The stepId of the plan answered.

  sampled @1 :List(Int32);
  # One sampled token id per plan entry with wantsLogits, in plan order.

  logprobs @2 :List(SampleLogprobs);
  # Parallel to sampled when any entry of the plan asked (samplingParams.logprobs >= 0); the
  # entries of sequences that did not ask are empty (logprob 0, no top). Empty when none asked,
  # and from a peer older than this field.

  promptLogprobs @3 :List(PromptLogprobs);
  # Parallel to the plan's sequences when any entry has numPromptLogprobs > 0 (the others'
  # entries empty), else empty; empty too from an executor that cannot score prompt tokens, and
  # from a peer older than this field.
}

# One scored prompt token (troupe::PromptTokenLogprobs): how likely the logits of the position
# before it made it.
struct PromptTokenLogprobs {
  token @0 :Int32 = 0;
  # The prompt token at this position.

  logprob @1 :Float32 = 0.0;
  # Natural log of its probability given the prompt before it, raw distribution; <= 0.

  rank @2 :Int32 = 0;
  # 1-based: 1 + the tokens more likely than it (as likely with a lower id counts as more).

  top @3 :List(TokenLogprob);
  # The samplingParams.promptLogprobs most likely tokens, most likely first, lower id first on
  # ties.
}

# One sequence's scored prompt tokens from one step (troupe::PromptLogprobs).
struct PromptLogprobs {
  firstPosition @0 :Int32 = 0;
  # Prompt position of tokens[0] (>= 1: nothing scores the first prompt token); the others follow.

  tokens @1 :List(PromptTokenLogprobs);
}

# One token and its log-probability (troupe::TokenLogprob).
struct TokenLogprob {
  token @0 :Int32 = 0;
  # Token id.

  logprob @1 :Float32 = 0.0;
  # Natural log of its probability under the raw distribution; <= 0.
}

# The log-probabilities of one sampled token (troupe::SampleLogprobs).
struct SampleLogprobs {
  logprob @0 :Float32 = 0.0;
  # Of the sampled token (natural log, <= 0).

  top @1 :List(TokenLogprob);
  # The samplingParams.logprobs most likely tokens, most likely first, lower id first on ties;
  # the sampled token is among them only if it is that likely.
}

# What an executor's backend does beyond running steps (troupe::BackendCapabilities): its answer
# when a gateway's process asks, so that process opens the request fields it can serve. A peer
# too old to know the question answers none, which means what the defaults say.
struct BackendCapabilities {
  appliesLogitAdjustments @0 :Bool = false;
  # The sampler applies SamplingParams.logitBias and minTokens.

  computesPromptLogprobs @1 :Bool = false;
  # StepResult.promptLogprobs is filled for the sequences that ask (numPromptLogprobs >= 0).
}

# The KV pool an executor allocates, sent once before the first step (troupe::KvPoolShape).
struct KvPoolShape {
  numBlocks @0 :Int32 = 0;
  # Number of KV blocks in the pool (each holds blockSize tokens of every layer); > 0.

  blockSize @1 :Int32 = 16;
  # Tokens per KV block; > 0.
}

# Why a sequence left the scheduler (troupe::SequenceFinishReason).
enum FinishReason {
  stop @0;
  # An EOS token was sampled (it is the last output token).
  length @1;
  # maxTokens output tokens were generated.
  abort @2;
  # Aborted (Scheduler::abort: the client hung up or the request was cancelled).
}

# A sequence that left the scheduler: scheduler -> gateway (troupe::FinishedSequence).
struct FinishedSequence {
  id @0 :UInt64 = 0;
  # Sequence id (troupe::SeqId).

  outputTokenIds @1 :List(Int32);
  # Every generated token id, an EOS that stopped it included.

  reason @2 :FinishReason = length;
  # Why it finished.
}

# -- the kv_manager's journal (scheduler -> kv_manager, one per step): wire/pool_journal.capnp -------

# -- pipeline parallel: one stage executor -> the next, one per step (troupe::HiddenStates) -----

# The residual stream after a pipeline stage's last decoder layer, for every token of one step.
# It travels in the same actor message as the step's StepPlan, which says what the tokens are.
struct HiddenStates {
  stepId @0 :UInt64 = 0;
  # The StepPlan these belong to.
  nextLayer @1 :Int32 = 0;
  # The first decoder layer that reads them: the receiving stage's first layer.
  numTokens @2 :Int32 = 0;
  # Tokens of the step (StepPlan.numBatchedTokens), in plan order.
  hiddenSize @3 :Int32 = 0;
  # Values per token (config.json's hidden_size).
  values @4 :List(Float32);
  # [numTokens * hiddenSize] fp32, token-major; empty for a plan with no tokens.
}

# -- tensor parallel: rank 0 of a group -> each other rank, one per call (troupe::TpRankOp) -------

# What rank 0 of a tensor-parallel group was asked to do, for a rank in another process to do its
# share of (its heads and slices; the sums themselves go through the group's collectives).
struct TpRankOp {
  kind @0 :Kind = logits;
  enum Kind {
    allocateKv @0;
    # Make the rank's KV pool: numBlocks x blockSize tokens, its KV heads only.
    logits @1;
    # The batch through every layer the rank holds (rank 0 then samples).
    forwardHidden @2;
    # A pipeline stage before the last: the batch through its layers.
  }
  numBlocks @1 :Int32 = 0;
  blockSize @2 :Int32 = 0;
  batch @3 :ForwardBatch;
  # logits and forwardHidden: the step rank 0 runs, its placeholders already resolved.
}

# One model step over several sequences (troupe::ForwardBatch): tokens of all sequences back to
# back, each sequence's slice of them and its KV blocks.
struct ForwardBatch {
  tokenIds @0 :List(Int32);
  # [numTokens]
  positions @1 :List(Int32);
  # [numTokens]
  slotMapping @2 :List(Int32);
  # [numTokens] block * blockSize + offset of each token's K/V.
  sequences @3 :List(SequenceSlice);
  hiddenStates @4 :List(Float32);
  # [numTokens * hidden] fp32: a later pipeline stage's input; empty on the first stage.
}

struct SequenceSlice {
  tokenBegin @0 :Int32 = 0;
  # First of the sequence's tokens in ForwardBatch.tokenIds.
  numTokens @1 :Int32 = 0;
  # Tokens computed this step.
  contextLen @2 :Int32 = 0;
  # Tokens in the cache after this step, these included.
  blockTable @3 :List(Int32);
  # Physical block of each logical block of the context.
  wantsLogits @4 :Bool = true;
  # False for a prefill chunk that is not the prompt's last.
  promptTargets @5 :List(Int32);
  # Prompt logprobs: the first promptTargets-length tokens of the slice are scored against these
  # prompt tokens (the one after each); empty for none.
  promptTopN @6 :Int32 = 0;
  # Alternatives listed for each scored token.
}
