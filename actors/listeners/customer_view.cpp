#include "actors/listeners/customer_view.hpp"

#include "actors/listeners/context.hpp"
#include "messages/aggregate_types.hpp"
#include "store/event_store.hpp"

namespace switchboard {

expected<customer, caf::error>
customer_view::get(const store::event_store& events,
                   const std::string& company_id, const std::string& id) {
  // Read before the fold: a commit after it moves the generation on, so
  // the entry is folded again at the next lookup.
  auto generation = events.stream_generation(aggregates::customer);
  auto key = std::make_pair(company_id, id);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = entries_.find(key);
        i != entries_.end() && i->second.generation == generation)
      return i->second.value;
  }
  auto c = load_customer(events, company_id, id);
  std::lock_guard<std::mutex> guard{mtx_};
  ++folds_;
  if (c) {
    if (entries_.size() >= max_entries)
      entries_.clear();
    entries_[std::move(key)] = entry{*c, generation};
  }
  return c;
}

std::uint64_t customer_view::folds() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return folds_;
}

std::shared_ptr<customer_view> new_customer_view() {
  return std::make_shared<customer_view>();
}

expected<customer, caf::error> customer_of(const listener_context& ctx,
                                           const std::string& company_id,
                                           const std::string& id) {
  if (ctx.customers == nullptr)
    return load_customer(*ctx.events, company_id, id);
  return ctx.customers->get(*ctx.events, company_id, id);
}

} // namespace switchboard
