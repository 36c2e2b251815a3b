// Per-device seeds and stream counters.
#include "random/random.h"

#include <atomic>
#include <mutex>

#include "op/operator.h"

namespace brass {
namespace random_state {
struct DeviceRng {
  uint64_t seed = 0x5eed5eedull;
  uint64_t next = 0;
};
std::mutex mu;
DeviceRng rngs[65];  // cpu, then GPUs 0..63
DeviceRng& for_device(Device d) { return d.type == BRASS_GPU ? rngs[1 + (d.id & 63)] : rngs[0]; }
}  // namespace random_state

namespace random {
void seed(uint64_t s, int dev_type, int dev_id) {
  std::lock_guard<std::mutex> lk(random_state::mu);
  if (dev_type < 0) {
    for (auto& r : random_state::rngs) { r.seed = s; r.next = 0; }
  } else {
    auto& r = random_state::for_device(Device{dev_type, dev_id});
    r.seed = s;
    r.next = 0;
  }
}

RandomStream next_stream(Device dev) {
  std::lock_guard<std::mutex> lk(random_state::mu);
  auto& r = random_state::for_device(dev);
  return RandomStream{r.seed, r.next++};
}
}  // namespace random
}  // namespace brass
