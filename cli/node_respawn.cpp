#include "cli/node_respawn.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

namespace troupe::cli {
namespace {

std::atomic<pid_t> child_pid{0};
std::atomic<bool> forwarded{false};  // a shutdown signal went to the child: do not start another

void forward_signal(int sig) {
  forwarded = true;
  if (const pid_t p = child_pid.load(); p > 0) kill(p, sig);
}

// In the child, before anything else: default handlers, and death with the parent (a kill -9 of
// the node's pid must not leave its work running without a supervisor).
void become_child(pid_t parent) {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);  // the parent died before prctl took effect
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  if (WEXITSTATUS(status) == kContextLostStatus) return "lost its device context";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int run_respawning(int max_respawns, const std::string& node_name) {
  const pid_t parent = getpid();
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  for (int incarnation = 0;; ++incarnation) {
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("--respawn: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      become_child(parent);
      return incarnation;
    }
    child_pid = pid;
    if (forwarded) kill(pid, SIGTERM);  // a signal came while forking
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    child_pid = 0;
    const bool crashed = WIFSIGNALED(status) && !forwarded;
    const bool context_lost = WIFEXITED(status) && WEXITSTATUS(status) == kContextLostStatus;
    const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (forwarded || !(crashed || context_lost)) std::_Exit(code);
    if (incarnation >= max_respawns) {
      spdlog::error("node {}: its process {} (pid {}); --respawn {} restarts are spent", node_name,
                    how_it_ended(status), pid, max_respawns);
      std::_Exit(code);
    }
    spdlog::warn("node {}: its process {} (pid {}); starting it again (restart {} of {})", node_name,
                 how_it_ended(status), pid, incarnation + 1, max_respawns);
  }
}

}  // namespace troupe::cli
