// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3): each 4x4 input tile
// and each filter go to a 4x4 transformed domain where the convolution over channels is 16
// independent GEMMs (filters x channels times channels x tiles), and each output tile (2x2)
// comes back from its 16 sums: 16 multiply-adds per tile and channel pair where the direct
// convolution does 36. Float32 only; convolution.cc sends the calls that fit here.
#pragma once

#include <cstdint>

#include "kernel/gemm.h"
#include "op/nn/conv_params.h"
#include "op/operator.h"

namespace brass {
namespace conv_ops {

// True when g is a 2-D (or depth-1 3-D) ungrouped 3x3 convolution at stride 1 and dilation 1
// that is worth the transforms (enough channels, filters and tiles), and BRASS_CONV_WINOGRAD
// is not 0.
bool winograd_fits(const ConvGeom& g);

// The data gradient of convolution g (dx = the adjoint of g applied to dy) is itself a 3x3
// stride-1 convolution when g is one with padding up to 2: of dy, by g's filters flipped and
// transposed, with padding 2 - g's. True, with its geometry in *a, when Winograd runs it.
bool winograd_fits_adjoint(const ConvGeom& g, ConvGeom* a);

// y = conv(x, w) over geometry g (winograd_fits), with the request (write or add), then
// epi->fn on each finished block of output rows (filter f's plane rows [r0, r1) of a sample:
// i0 = f, rows = 1, cols = (r1 - r0) * ow), which adds any bias and fused work. w_version
// names the filters' contents (0: unknown) so that their transform is kept for inference.
// adjoint: g is winograd_fits_adjoint's geometry and w the filters of the convolution whose
// data gradient this is (g.c x g.f x 3 x 3), read flipped and transposed.
void conv_winograd(const ConvGeom& g, const float* x, const float* w, float* y, Req req,
                   const kernel::Epilogue<float>* epi, uint64_t w_version, bool adjoint = false);

}  // namespace conv_ops
}  // namespace brass
