#include "bench/loadgen/progress_bar.h"

#include <unistd.h>

namespace troupe::loadgen {

ProgressBar::ProgressBar(std::string label, size_t total, bool enabled, std::FILE* out)
    : label_(std::move(label)), total_(total), enabled_(enabled), out_(out), started_(std::chrono::steady_clock::now()) {}

bool ProgressBar::stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

void ProgressBar::update(size_t done, size_t failed) {
  done_ = done;
  failed_ = failed;
  const auto now = std::chrono::steady_clock::now();
  if (!enabled_ || now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw();
  std::fputc('\n', out_);
  std::fflush(out_);
  enabled_ = false;
}

void ProgressBar::draw() {
  constexpr size_t width = 30;
  const size_t filled = total_ ? done_ * width / total_ : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::fprintf(out_, "\r%s [%s] %zu/%zu", label_.c_str(), bar.c_str(), done_, total_);
  if (failed_) std::fprintf(out_, " (%zu failed)", failed_);
  std::fprintf(out_, " %.1f s   ", elapsed);  // the spaces cover a longer earlier line
  std::fflush(out_);
}

}  // namespace troupe::loadgen
