#pragma once
// `troupe node --respawn N`: the node's work runs in a child process that this one starts again
// when it crashes (ends by a signal this process did not send it) or ends with
// kContextLostStatus, its device context poisoned by a sticky CUDA error — the fresh process gets
// a fresh context, reloads its shards and rejoins its head by name, which recovers as for any
// lost node (the head's recovery waits join_timeout_s for it). Why a process and not an executor
// restart: a poisoned CUDA context cannot be reset inside the process that owns it (as vLLM and
// SGLang, we give each GPU worker a process of its own). The parent runs no actors and touches
// no device; SIGINT/SIGTERM to it go to the child, and the child dies with it (PDEATHSIG).
#include <string>

namespace troupe::cli {

// The exit status of a node whose device context is lost (EX_TEMPFAIL: try again).
inline constexpr int kContextLostStatus = 75;

// Returns in the child: its incarnation, 0 for the first and k after k restarts. The parent never
// returns: once a child ends by a shutdown signal it forwarded, by a plain exit, or past
// `max_respawns` restarts, it exits with that child's status (128 + the signal for a signal).
int run_respawning(int max_respawns, const std::string& node_name);

}  // namespace troupe::cli
