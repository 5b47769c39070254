#include "comm/gloo/gloo_store.h"

#include <gloo/rendezvous/file_store.h>  // gloo::rendezvous::FileStore
#include <gloo/rendezvous/hash_store.h>  // gloo::rendezvous::HashStore

namespace troupe {
namespace {

// One of Gloo's stores seen through our interface. Gloo's get() waits for the key with its default
// timeout (30 s) and throws gloo::IoException, a std::runtime_error, past it.
template <class GlooStore>
class GlooBackedStore : public RendezvousStore {
 public:
  template <class... Args>
  explicit GlooBackedStore(Args&&... args) : store_(std::forward<Args>(args)...) {}

  void set(const std::string& key, const std::vector<char>& value) override { store_.set(key, value); }
  std::vector<char> get(const std::string& key) override { return store_.get(key); }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    store_.wait(keys, timeout);
  }

 private:
  GlooStore store_;
};

}  // namespace

std::unique_ptr<RendezvousStore> make_gloo_hash_store() {
  return std::make_unique<GlooBackedStore<gloo::rendezvous::HashStore>>();
}

std::unique_ptr<RendezvousStore> make_gloo_file_store(const std::string& directory) {
  return std::make_unique<GlooBackedStore<gloo::rendezvous::FileStore>>(directory);
}

}  // namespace troupe
