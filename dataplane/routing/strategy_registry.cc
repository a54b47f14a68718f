#include "dataplane/routing/strategies/cost_based.h"
#include "dataplane/routing/strategies/failover.h"
#include "dataplane/routing/strategies/least_busy.h"
#include "dataplane/routing/strategies/round_robin.h"
#include "dataplane/routing/strategies/shuffle.h"
#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

StrategyPtr CreateStrategy(std::string_view name) {
  if (name == "shuffle" || name == "simple-shuffle") {
    return std::make_unique<ShuffleStrategy>();
  }
  if (name == "round-robin") {
    return std::make_unique<RoundRobinStrategy>();
  }
  if (name == "failover") {
    return std::make_unique<FailoverStrategy>();
  }
  if (name == "least-busy") {
    return std::make_unique<LeastBusyStrategy>();
  }
  if (name == "cost-based") {
    return std::make_unique<CostBasedStrategy>();
  }
  return nullptr;
}

}  // namespace ccrelay::routing
