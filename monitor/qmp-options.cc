#include "monitor/qmp-options.h"

namespace nahanni {

OptionList option_list_from_qmp(const nlohmann::json& args) {
  OptionList list;
  list.from_json = true;
  if (!args.is_object()) return list;
  for (auto it = args.begin(); it != args.end(); ++it) list.items.emplace_back(it.key(), option_value_from_json(*it));
  return list;
}

}  // namespace nahanni
