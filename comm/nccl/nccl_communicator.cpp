#include "comm/nccl/nccl_communicator.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include <cuda_runtime_api.h>
#include <nccl.h>

namespace troupe {
namespace {

void check(ncclResult_t status, const char* call, ncclComm_t comm = nullptr) {
  if (status == ncclSuccess) return;
  std::string message = std::string(call) + " failed: " + ncclGetErrorString(status);
  if (const char* last = ncclGetLastError(comm); last && *last) message += std::string(" (") + last + ")";
  throw std::runtime_error(message);
}

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
}

class NcclCommunicator : public DeviceCommunicator {
 public:
  NcclCommunicator(ncclComm_t comm, int32_t rank, int32_t size) : comm_(comm), rank_(rank), size_(size) {}
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }

  int32_t rank() const override { return rank_; }
  int32_t size() const override { return size_; }
  bool capturable() const override { return true; }

  void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream) override {
    const ncclDataType_t type = dtype == DeviceDType::BF16 ? ncclBfloat16 : ncclFloat32;
    check(ncclAllReduce(data, data, static_cast<size_t>(count), type, ncclSum, comm_, static_cast<cudaStream_t>(stream)),
          "ncclAllReduce", comm_);
  }

 private:
  ncclComm_t comm_;
  int32_t rank_, size_;
};

}  // namespace

size_t nccl_id_bytes() { return sizeof(ncclUniqueId); }

std::vector<uint8_t> make_nccl_id() {
  ncclUniqueId id;
  check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  std::vector<uint8_t> out(sizeof(id));
  std::memcpy(out.data(), &id, sizeof(id));
  return out;
}

std::unique_ptr<DeviceCommunicator> connect_nccl(std::span<const uint8_t> id_bytes, int32_t rank, int32_t size,
                                                 int device) {
  if (id_bytes.size() != sizeof(ncclUniqueId))
    throw std::invalid_argument("an NCCL id is " + std::to_string(sizeof(ncclUniqueId)) + " bytes, got " +
                                std::to_string(id_bytes.size()));
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument("NCCL rank " + std::to_string(rank) + " of a group of " + std::to_string(size));
  ncclUniqueId id;
  std::memcpy(&id, id_bytes.data(), sizeof(id));
  check(cudaSetDevice(device), "cudaSetDevice");
  ncclComm_t comm = nullptr;
  check(ncclCommInitRank(&comm, size, id, rank), "ncclCommInitRank");
  return std::make_unique<NcclCommunicator>(comm, rank, size);
}

std::vector<std::unique_ptr<DeviceCommunicator>> connect_nccl_local(const std::vector<int>& devices) {
  const auto n = static_cast<int32_t>(devices.size());
  if (n < 1) throw std::invalid_argument("an NCCL group needs at least one device");
  std::vector<ncclComm_t> comms(devices.size());
  check(ncclCommInitAll(comms.data(), n, devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<DeviceCommunicator>> out;
  for (int32_t r = 0; r < n; ++r) out.push_back(std::make_unique<NcclCommunicator>(comms[static_cast<size_t>(r)], r, n));
  return out;
}

int nccl_version() {
  int v = 0;
  check(ncclGetVersion(&v), "ncclGetVersion");
  return v;
}

}  // namespace troupe
