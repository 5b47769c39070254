#pragma once
// ProgressBar: "done/total" on one stderr line, redrawn in place with '\r'. Redraws are limited
// to ten a second so a fast benchmark does not spend its time writing to the terminal.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace troupe::loadgen {

class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total, bool enabled, std::FILE* out = stderr);
  void update(size_t done, size_t failed);
  // Draws the last state and ends the line.
  void finish();

  // Whether stderr is a terminal: the default for showing a bar.
  static bool stderr_is_tty();

 private:
  void draw();

  std::string label_;
  size_t total_;
  bool enabled_;
  std::FILE* out_;
  size_t done_ = 0;
  size_t failed_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace troupe::loadgen
