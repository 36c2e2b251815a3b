// Fusion of element-wise ops (Op::pointwise) into one CPU node per group: a group grows along
// edges whose value has no other reader, so its inner values never exist in memory. The fused
// node runs its ops' own CPU kernels block by block (a few thousand elements, cache-resident)
// over the whole array, in parallel over blocks: one pass over memory instead of one per op,
// with results bit-identical to the unfused graph.
#pragma once

#include <unordered_set>
#include <vector>

#include "graph/infer.h"

namespace brass {
namespace graph {

// New heads of the graph of g (made from `heads`), with groups of at least two pointwise ops
// fused. types: dtype per entry of g. Nodes in `phase` and nodes outside it are never fused
// together (forward and backward passes stay apart). Nodes outside groups are reused (copied
// only when an input changes); the original graph is not modified. *fused counts the groups.
std::vector<NodeEntry> fuse_pointwise(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                      const std::vector<int>& types, const std::unordered_set<const Node*>& phase,
                                      int* fused);

// New heads of the graph of g (made from `heads`) where each BatchNorm whose output only a
// unary pointwise op reads (an activation, clip...) and whose hidden outputs nothing reads (no
// gradient) runs that op as an epilogue on each finished span of its output, while it is in
// cache (bn_forward_epilogue): one pass over memory less, the same bits. CPU, float32/float64.
// *fused counts the pairs.
std::vector<NodeEntry> fuse_bn_activation(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                          const std::vector<int>& types, int* fused);

// New heads of the graph of g (made from `heads`) where each channels-first Convolution whose
// output only a BatchNorm (axis 1, no gradient: its hidden outputs unread) reads, and the relu
// or clip that alone reads that BatchNorm's output, become one node: in inference the
// convolution applies BatchNorm's affine map on its moving statistics and the activation to
// each finished block of its output while it is in cache (conv_ops::ConvEpilogue), the same
// bits as the three ops; in training, the convolution, then BatchNorm and the activation in
// place. CPU, float32/float64. *fused counts the nodes made.
std::vector<NodeEntry> fuse_conv_bn(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                    const std::vector<int>& types, int* fused);

// New heads of the graph of g (made from fuse_conv_bn's) where each relu or clip of an
// elemwise_add (each the only reader of its input) of a fused convolution without an
// activation (one group, its output read by that sum alone) and another value of its type
// becomes one node: the convolution's epilogue adds the other value after BatchNorm, then
// applies the activation (ResNet's blocks), the same bits as the three ops. *fused counts them.
std::vector<NodeEntry> fuse_conv_residual(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                          const std::vector<int>& types, int* fused);

// New heads of the graph of g (made from fuse_conv_bn's) where each fused pointwise ->
// depthwise -> pointwise chain (MobileNet's block: each link the only reader of its input)
// keeps its two inner values channels-last (conv_ops::ConvStorage): the depthwise convolution
// runs vectors over channels, whatever its plane size and stride. Inference only: such nodes
// fail on BatchNorm's batch statistics. The same bits. shapes: per entry of g; *blocks counts
// the chains.
std::vector<NodeEntry> store_channels_last(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                           const std::vector<Shape>& shapes, int* blocks);

}  // namespace graph
}  // namespace brass
