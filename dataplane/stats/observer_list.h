#pragma once

#include <vector>

#include "dataplane/stats/request_observer.h"

namespace ccrelay::stats {

// Fans every event out to several observers (stats reports, metrics). Filled before the data
// plane serves, read-only afterwards.
class ObserverList : public RequestObserver {
 public:
  void Add(RequestObserver* observer) { observers_.push_back(observer); }

  // stats::RequestObserver
  void OnRequestDone(const RequestRecord& record) override {
    for (auto* o : observers_) {
      o->OnRequestDone(record);
    }
  }
  void OnAttemptFailed(const AttemptRecord& record) override {
    for (auto* o : observers_) {
      o->OnAttemptFailed(record);
    }
  }
  void OnStreamStarted() override {
    for (auto* o : observers_) {
      o->OnStreamStarted();
    }
  }
  void OnStreamEnded() override {
    for (auto* o : observers_) {
      o->OnStreamEnded();
    }
  }
  void OnBetaDropped(std::string_view provider, std::string_view beta) override {
    for (auto* o : observers_) {
      o->OnBetaDropped(provider, beta);
    }
  }
  void OnRouted(std::string_view strategy, std::string_view rule) override {
    for (auto* o : observers_) {
      o->OnRouted(strategy, rule);
    }
  }
  void OnUserRefused(std::string_view user, std::string_view reason) override {
    for (auto* o : observers_) {
      o->OnUserRefused(user, reason);
    }
  }

 private:
  std::vector<RequestObserver*> observers_;
};

}  // namespace ccrelay::stats
