// Run-time choice of the instruction set for the hand-written kernels. BRASS_ISA forces one
// (avx512, avx2, neon, scalar); a forced ISA the machine lacks falls back to the best one.
#pragma once

namespace brass {
namespace kernel {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };

Isa best_isa();            // what this machine supports best
Isa active_isa();          // best_isa() unless BRASS_ISA or set_isa() chose another
bool isa_supported(Isa i);
void set_isa(Isa i);       // for tests; fails if unsupported
const char* isa_name(Isa i);

}  // namespace kernel
}  // namespace brass
