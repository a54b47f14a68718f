#pragma once

#include "absl/status/status.h"

#include "dataplane/common/clock.h"

namespace ccrelay::v1 {
class ExplainRouteRequest;
class RouteExplanation;
}  // namespace ccrelay::v1

namespace ccrelay::routing {
struct RoutingTable;
}

namespace ccrelay::admin {

// `cc-relayctl route explain`: builds the routing::RouteRequest the exchange would build for
// `request` (a body scanned as the request path scans it, or the request's features), routes it
// with routing::Route() against `table`, and reads each ranked provider's and key's state the
// way the candidate picker's first pick would (routing::PeekFirst), without sending, reserving
// or moving anything. Fills everything but data_plane_id. InvalidArgument for a body that does
// not scan, or neither a body nor a model.
absl::Status ExplainRoute(const routing::RoutingTable& table,
                          const ccrelay::v1::ExplainRouteRequest& request,
                          const common::Clock& clock, ccrelay::v1::RouteExplanation* out);

}  // namespace ccrelay::admin
