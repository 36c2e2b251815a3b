// Building blocks for gradient definitions.
#include "op/grad.h"

#include <cstdio>

namespace brass {
namespace grad {

NodePtr node(const char* name, Entries inputs, Params params) {
  const Op* op = OpRegistry::get().find(name);
  if (!op) fail(BRASS_ERR_INTERNAL, "gradient: unknown op '", name, "'");
  auto n = std::make_shared<Node>();
  n->op = op;
  n->attrs = make_attrs(op, std::move(params));
  n->inputs = std::move(inputs);
  return n;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Entries none(const NodePtr& n, const Entries&) { return Entries(n->inputs.size()); }

}  // namespace grad
}  // namespace brass
