// Parameters and shape logic of FullyConnected (fully_connected.cc), shared by the CPU kernel
// and the CUDA kernel (cuda/nn_dense.cu).
#pragma once

#include <cstdint>

#include "op/operator.h"

namespace brass {
namespace fc_ops {

struct FullyConnectedParam {
  int num_hidden;
  bool no_bias, flatten;
  static void declare(ParamSpec<FullyConnectedParam>& s) {
    s.field("num_hidden", &FullyConnectedParam::num_hidden).set_lower_bound(1)
        .describe("Number of hidden units (the output's last extent).");
    s.field("no_bias", &FullyConnectedParam::no_bias).set_default(false)
        .describe("Whether to leave the bias out (then there is no bias input).");
    s.field("flatten", &FullyConnectedParam::flatten).set_default(true)
        .describe("True: view the data as (batch, features) with every axis but the first "
                  "collapsed; False: apply the layer to the last axis.");
  }
};

// The data viewed as a matrix of m rows of k features: (d0, d1*...*dn) with flatten, else
// (d0*...*dn-1, dn). Fails naming the op for 0-d data.
struct FcDims { int64_t m, k; };

inline FcDims fc_dims(const Shape& d, bool flatten) {
  if (d.ndim() == 0)
    fail(BRASS_ERR_SHAPE, "FullyConnected: data must have at least one axis, got ", d);
  if (flatten) return {d[0], checked_product(d.data() + 1, d.ndim() - 1, "FullyConnected")};
  return {checked_product(d.data(), d.ndim() - 1, "FullyConnected"), d[d.ndim() - 1]};
}

}  // namespace fc_ops
}  // namespace brass
