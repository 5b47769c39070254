// Builds without nvcc: the GPU backend cannot exist, and says why instead of failing later.
#include <stdexcept>

#include "engine/runtime/gpu_backend.h"

namespace troupe {

bool cuda_device_available() { return false; }
int cuda_device_count() { return 0; }

std::shared_ptr<ModelBackend> make_gpu_backend(const ModelConfig&, const Checkpoint*, uint64_t,
                                               const GpuBackendOptions&, const LoadProgress&) {
  throw std::runtime_error("this troupe was built without CUDA (nvcc was not found at configure time); "
                           "use --device cpu or rebuild on a machine with the CUDA toolkit");
}

void poison_cuda_context(int) { throw std::runtime_error("this troupe was built without CUDA: no context to poison"); }

}  // namespace troupe
