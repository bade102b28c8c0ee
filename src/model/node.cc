#include "model/node.h"

namespace weft::model {

std::string_view ToString(NodeState state) {
  return state == NodeState::kUp ? "UP" : "DOWN";
}

}  // namespace weft::model
