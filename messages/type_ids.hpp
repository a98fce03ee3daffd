#pragma once

#include <messages/cluster.hpp>
#include <messages/inspect.hpp>
#include <messages/registry.hpp>

#include <caf/type_id.hpp>

#include <vector>

/// The project's CAF type-ID block: every event (from the registry), every
/// value type, the actors' requests and replies, the calendar's commands,
/// and batches of envelopes. Register it with
/// `cfg.add_message_types<caf::id_block::switchboard>()`. Other subsystems
/// start their own blocks at `caf::id_block::switchboard::end`.

#define SWITCHBOARD_ADD_TYPE_ID(type)                                          \
  CAF_ADD_TYPE_ID(switchboard, (switchboard::type))
#define SWITCHBOARD_ADD_EVENT_TYPE_ID(type, ...) SWITCHBOARD_ADD_TYPE_ID(type)

CAF_BEGIN_TYPE_ID_BLOCK(switchboard, caf::first_custom_type_id)

SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_ADD_EVENT_TYPE_ID)
SWITCHBOARD_VALUE_TYPES(SWITCHBOARD_ADD_TYPE_ID)
SWITCHBOARD_COMMAND_TYPES(SWITCHBOARD_ADD_TYPE_ID)
CAF_ADD_TYPE_ID(switchboard, (std::vector<switchboard::envelope>))
// Between the nodes of a cluster (actors/cluster.hpp).
SWITCHBOARD_ADD_TYPE_ID(cluster_hello)
SWITCHBOARD_ADD_TYPE_ID(forward_request)
SWITCHBOARD_ADD_TYPE_ID(forward_response)
SWITCHBOARD_ADD_TYPE_ID(tenant_digest)
SWITCHBOARD_ADD_TYPE_ID(cluster_placement)
SWITCHBOARD_ADD_TYPE_ID(company_transfer)
// The staff calendar's commands (messages/calendar_commands.hpp), last so
// that the ids above stay as they were.
SWITCHBOARD_CALENDAR_COMMAND_TYPES(SWITCHBOARD_ADD_TYPE_ID)
// Broadcasting between the nodes of a cluster (cluster protocol 3).
SWITCHBOARD_ADD_TYPE_ID(presence_digest)
SWITCHBOARD_ADD_TYPE_ID(channel_message)

CAF_END_TYPE_ID_BLOCK(switchboard)

#undef SWITCHBOARD_ADD_EVENT_TYPE_ID
#undef SWITCHBOARD_ADD_TYPE_ID
