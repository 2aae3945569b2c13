// keyholdd's transport: a few event-loop threads (epoll) serving the Unix
// socket, each connection's frames executed in order on the thread that
// reads them (docs/daemon.md, "Concurrency and limits").
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config.h"
#include "daemon/service.h"

namespace keyhold::daemon {

class Server {
 public:
  Server(const Config& cfg, Service* svc) : cfg_(cfg), svc_(svc) {}
  ~Server();
  // Listen creates the socket (mode cfg.socket_mode); an existing socket
  // file is replaced only if nothing answers on it.
  std::string Listen();
  // ListenMetrics opens the Prometheus endpoint if configured.
  std::string ListenMetrics();
  // MetricsAddress: the host:port the metrics endpoint listens on, "" if off.
  const std::string& MetricsAddress() const { return metrics_addr_; }
  // Start runs the worker threads.
  void Start();
  // Drain stops accepting, answers what was received (at most
  // cfg.drain_timeout_ms) and returns when every worker has finished.
  void Drain();

 private:
  void Worker(int index);
  void MetricsLoop();

  const Config& cfg_;
  Service* svc_;
  int listen_fd_ = -1;
  int metrics_fd_ = -1;
  std::string metrics_addr_;
  std::vector<int> wake_fds_;  // one eventfd per worker
  std::vector<std::thread> threads_;
  std::thread metrics_thread_;
  std::atomic<bool> draining_{false};
};

}  // namespace keyhold::daemon
