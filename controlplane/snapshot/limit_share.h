#pragma once

#include <cstddef>
#include <cstdint>

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::controlplane {

// Several data planes, one key (issue 5): every data plane enforces the limits its snapshot
// carries, so the control plane sends each of the `live` connected data planes an equal share of
// every key limit. SPEC.md, "Key pools", explains the rule and its worst case.

// floor(limit / live), but at least 1 when limit > 0 (a share of 0 would mean unlimited);
// 0 (unlimited) stays 0; live 0 or 1 keeps the whole limit.
uint32_t LimitShare(uint32_t limit, size_t live);

// Replaces rpm_limit, tpm_limit, itpm_limit and otpm_limit of every key of every provider with
// LimitShare(limit, live).
void DivideKeyLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot);

// Whether any key has a non-zero limit (only then does the number of data planes matter).
bool HasKeyLimits(const ccrelay::v1::RoutingSnapshot& snapshot);

// The same for the teammates' limits (issue 15): replaces rpm_limit and tpm_limit of every
// user's policy with LimitShare(limit, live). (Budgets are shared by grants instead:
// controlplane/budget.)
void DivideUserLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot);
bool HasUserLimits(const ccrelay::v1::RoutingSnapshot& snapshot);

// Both of the above: every limit a data plane enforces from its snapshot.
void DivideLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot);
bool HasLimits(const ccrelay::v1::RoutingSnapshot& snapshot);

}  // namespace ccrelay::controlplane
