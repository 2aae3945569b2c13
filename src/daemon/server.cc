#include "daemon/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "daemon/log.h"

namespace keyhold::daemon {
namespace {

constexpr size_t kBaseBuffer = 64 << 10;     // a connection's read buffer without reservation
constexpr size_t kWriteHighWater = 1 << 20;  // stop executing frames while this much waits to be sent
constexpr int kTickMs = 100;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Conn {
  int fd = -1;
  Caller caller;
  std::vector<uint8_t> rbuf;
  size_t rlen = 0;
  std::vector<uint8_t> wbuf;
  size_t woff = 0;
  int64_t last_active = 0;
  int64_t partial_since = 0;  // 0: no incomplete frame held
  uint64_t reserved = 0;      // buffer-budget bytes held above kBaseBuffer
  bool paused = false;        // waiting for buffer budget
  bool closing = false;       // close once wbuf is sent
  bool peer_closed = false;
  uint32_t events = 0;  // registered epoll events
  std::vector<wire::RequestItem> scratch;
  size_t pending_write() const { return wbuf.size() - woff; }
};

class Loop {
 public:
  Loop(const Config& cfg, Service* svc, int listen_fd, int wake_fd, std::atomic<bool>* draining)
      : cfg_(cfg), svc_(svc), listen_fd_(listen_fd), wake_fd_(wake_fd), draining_(draining) {}

  void Run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      Log(Level::kError, "epoll_create1 failed", {{"errno", errno}});
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = listen_fd_;
    epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
    int64_t drain_deadline = 0;
    int64_t last_sweep = NowMs();
    epoll_event evs[64];
    for (;;) {
      int n = epoll_wait(ep_, evs, 64, kTickMs);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        if (fd == listen_fd_) {
          if (!draining_->load()) {
            try {
              Accept();
            } catch (const std::exception&) {
              Log(Level::kError, "accept failed: out of memory");
            }
          }
        } else if (fd == wake_fd_) {
          uint64_t v;
          ssize_t r = ::read(wake_fd_, &v, sizeof v);
          (void)r;
        } else {
          auto it = conns_.find(fd);
          if (it != conns_.end()) {
            // An allocation failure while serving one connection ends that
            // connection, not the daemon.
            try {
              OnEvent(it->second, evs[i].events);
            } catch (const std::exception&) {
              Log(Level::kError, "connection dropped: out of memory");
              auto again = conns_.find(fd);
              if (again != conns_.end()) Close(again->second);
            }
          }
        }
      }
      int64_t now = NowMs();
      if (draining_->load() && drain_deadline == 0) drain_deadline = StartDrain(now);
      if (drain_deadline != 0) {
        bool all_sent =
            std::all_of(conns_.begin(), conns_.end(), [](auto& c) { return c.second.pending_write() == 0; });
        if (all_sent || now >= drain_deadline) break;
      }
      if (now - last_sweep >= kTickMs) {
        Sweep(now);
        last_sweep = now;
      }
    }
    std::vector<int> fds;
    for (auto& [fd, c] : conns_) fds.push_back(fd);
    for (int fd : fds) Close(conns_.at(fd));
    ::close(ep_);
  }

 private:
  void Accept() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN (another worker took it) or a transient error
      Metrics& m = svc_->metrics();
      if (m.connections.load() >= static_cast<int64_t>(cfg_.max_connections)) {
        m.connections_refused.fetch_add(1, std::memory_order_relaxed);
        ::close(fd);
        continue;
      }
      ucred cred{};
      socklen_t len = sizeof cred;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        ::close(fd);
        continue;
      }
      m.connections.fetch_add(1, std::memory_order_relaxed);
      m.connections_total.fetch_add(1, std::memory_order_relaxed);
      Conn& c = conns_[fd];
      c.fd = fd;
      c.caller = Caller{cred.uid, cred.gid, cred.pid};
      c.rbuf.resize(kBaseBuffer);
      c.last_active = NowMs();
      SetEvents(c, EPOLLIN | EPOLLRDHUP, /*add=*/true);
      Log(Level::kDebug, "connection", {{"uid", cred.uid}, {"gid", cred.gid}, {"pid", cred.pid}});
    }
  }

  void SetEvents(Conn& c, uint32_t events, bool add = false) {
    if (!add && events == c.events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = c.fd;
    epoll_ctl(ep_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
    c.events = events;
  }

  void UpdateEvents(Conn& c) {
    uint32_t ev = 0;
    bool backlog = c.pending_write() >= kWriteHighWater;
    if (!c.paused && !c.closing && !c.peer_closed && !backlog && !draining_->load())
      ev |= EPOLLIN | EPOLLRDHUP;
    if (c.pending_write() > 0) ev |= EPOLLOUT;
    SetEvents(c, ev);
  }

  void OnEvent(Conn& c, uint32_t events) {
    if ((events & EPOLLIN) != 0) ReadAndServe(c);
    if ((events & (EPOLLHUP | EPOLLERR)) != 0 && (events & EPOLLIN) == 0) {
      Close(c);
      return;
    }
    if ((events & EPOLLRDHUP) != 0) c.peer_closed = true;
    Flush(c);
  }

  // ReadAndServe reads what the socket has (up to the buffer) and executes
  // every complete frame.
  void ReadAndServe(Conn& c) {
    if (c.rlen < c.rbuf.size()) {
      ssize_t r = ::read(c.fd, c.rbuf.data() + c.rlen, c.rbuf.size() - c.rlen);
      if (r == 0) {
        c.peer_closed = true;
      } else if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) c.peer_closed = true;
      } else {
        c.rlen += static_cast<size_t>(r);
        c.last_active = NowMs();
      }
    }
    Serve(c);
  }

  void Serve(Conn& c) {
    size_t off = 0;
    while (!c.closing && c.rlen - off >= wire::kLengthPrefixLen && c.pending_write() < kWriteHighWater) {
      uint32_t len = wire::ReadLengthPrefix(c.rbuf.data() + off);
      if (len < wire::kFrameHeaderLen || len > wire::kMaxFrameLen) {
        // The stream cannot be resynchronised: answer once and close.
        svc_->metrics().protocol_errors.fetch_add(1, std::memory_order_relaxed);
        Service::ErrorFrame(0, 0, len > wire::kMaxFrameLen ? KH_E_TOO_LARGE : KH_E_MALFORMED, &c.wbuf);
        c.closing = true;
        Log(Level::kWarn, "protocol error: bad frame length", {{"uid", c.caller.uid}, {"pid", c.caller.pid}});
        break;
      }
      size_t need = wire::kLengthPrefixLen + len;
      if (c.rlen - off < need) {
        if (need > c.rbuf.size() && !Grow(c, need, off)) break;
        break;
      }
      ByteView body(c.rbuf.data() + off + wire::kLengthPrefixLen, len);
      if (!svc_->HandleBytes(c.caller, body, &c.scratch, &c.wbuf)) c.closing = true;
      off += need;
    }
    if (off > 0) {
      // Inputs are consumed: wipe them (they may be plaintext) and keep the rest.
      std::memmove(c.rbuf.data(), c.rbuf.data() + off, c.rlen - off);
      std::memset(c.rbuf.data() + (c.rlen - off), 0, off);
      c.rlen -= off;
      if (c.rbuf.size() > kBaseBuffer && c.rlen <= kBaseBuffer) Shrink(c);
    }
    c.partial_since = c.rlen == 0 ? 0 : (c.partial_since == 0 ? NowMs() : c.partial_since);
  }

  // Grow makes room for a frame of need bytes, within the global budget;
  // false pauses reading until the budget allows it.
  bool Grow(Conn& c, size_t need, size_t off) {
    if (off > 0) return true;  // compact first; Serve is called again after the next read
    uint64_t extra = need - kBaseBuffer;
    Metrics& m = svc_->metrics();
    uint64_t cur = m.buffered_bytes.load();
    do {
      if (cur + extra - c.reserved > cfg_.buffer_budget) {
        c.paused = true;
        return false;
      }
    } while (!m.buffered_bytes.compare_exchange_weak(cur, cur + extra - c.reserved));
    c.reserved = extra;
    c.paused = false;
    c.rbuf.resize(need);
    return true;
  }

  void Shrink(Conn& c) {
    std::vector<uint8_t> small(kBaseBuffer);
    std::memcpy(small.data(), c.rbuf.data(), c.rlen);
    std::memset(c.rbuf.data(), 0, c.rbuf.size());
    c.rbuf.swap(small);
    svc_->metrics().buffered_bytes.fetch_sub(c.reserved);
    c.reserved = 0;
  }

  void Flush(Conn& c) {
    while (c.pending_write() > 0) {
      ssize_t w = ::send(c.fd, c.wbuf.data() + c.woff, c.pending_write(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        Close(c);
        return;
      }
      c.woff += static_cast<size_t>(w);
    }
    if (c.pending_write() == 0) {
      std::memset(c.wbuf.data(), 0, c.wbuf.size());  // responses may hold plaintext
      c.wbuf.clear();
      c.woff = 0;
      if (c.wbuf.capacity() > (4u << 20)) std::vector<uint8_t>().swap(c.wbuf);
      if (c.closing || (c.peer_closed && c.rlen < wire::kLengthPrefixLen)) {
        Close(c);
        return;
      }
      // Frames held back by the write high-water mark can run now.
      if (c.rlen >= wire::kLengthPrefixLen && !draining_->load()) {
        Serve(c);
        if (c.pending_write() > 0) {
          Flush(c);
          return;
        }
      }
      if (c.peer_closed) {
        Close(c);
        return;
      }
    }
    UpdateEvents(c);
  }

  void Close(Conn& c) {
    int fd = c.fd;
    if (c.reserved != 0) svc_->metrics().buffered_bytes.fetch_sub(c.reserved);
    std::memset(c.rbuf.data(), 0, c.rbuf.size());
    if (!c.wbuf.empty()) std::memset(c.wbuf.data(), 0, c.wbuf.size());
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    svc_->metrics().connections.fetch_sub(1, std::memory_order_relaxed);
    conns_.erase(fd);
  }

  void Sweep(int64_t now) {
    std::vector<int> expired;
    for (auto& [fd, c] : conns_) {
      bool stalled = c.partial_since != 0 && now - c.partial_since > cfg_.read_timeout_ms;
      bool idle = c.pending_write() == 0 && now - c.last_active > cfg_.idle_timeout_ms;
      if (stalled || idle) {
        expired.push_back(fd);
        continue;
      }
      if (c.paused) {
        // Retry the budget.
        size_t need = wire::kLengthPrefixLen + wire::ReadLengthPrefix(c.rbuf.data());
        if (Grow(c, need, 0)) UpdateEvents(c);
      }
    }
    for (int fd : expired) {
      svc_->metrics().timeouts.fetch_add(1, std::memory_order_relaxed);
      Log(Level::kInfo, "connection timed out",
          {{"uid", conns_.at(fd).caller.uid}, {"pid", conns_.at(fd).caller.pid}});
      Close(conns_.at(fd));
    }
  }

  // StartDrain: stop accepting and reading; answer the complete frames
  // already received (read what the socket holds first); returns the deadline.
  int64_t StartDrain(int64_t now) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    std::vector<int> fds;
    for (auto& [fd, c] : conns_) fds.push_back(fd);
    for (int fd : fds) {
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Conn& c = it->second;
      for (;;) {
        if (c.rlen == c.rbuf.size()) break;
        ssize_t r = ::read(c.fd, c.rbuf.data() + c.rlen, c.rbuf.size() - c.rlen);
        if (r <= 0) break;
        c.rlen += static_cast<size_t>(r);
      }
      // Run everything complete, ignoring the high-water mark: the client
      // is owed these answers.
      size_t off = 0;
      while (c.rlen - off >= wire::kLengthPrefixLen) {
        uint32_t len = wire::ReadLengthPrefix(c.rbuf.data() + off);
        if (len < wire::kFrameHeaderLen || len > wire::kMaxFrameLen ||
            c.rlen - off < wire::kLengthPrefixLen + len) {
          break;
        }
        ByteView body(c.rbuf.data() + off + wire::kLengthPrefixLen, len);
        (void)svc_->HandleBytes(c.caller, body, &c.scratch, &c.wbuf);
        off += wire::kLengthPrefixLen + len;
      }
      c.rlen = 0;
      c.closing = true;
      Flush(c);
    }
    return now + cfg_.drain_timeout_ms;
  }

  const Config& cfg_;
  Service* svc_;
  int listen_fd_;
  int wake_fd_;
  std::atomic<bool>* draining_;
  int ep_ = -1;
  std::unordered_map<int, Conn> conns_;
};

}  // namespace

Server::~Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (metrics_fd_ >= 0) ::close(metrics_fd_);
  for (int fd : wake_fds_) ::close(fd);
}

std::string Server::Listen() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (cfg_.socket_path.size() >= sizeof addr.sun_path) return "socket path too long: " + cfg_.socket_path;
  std::memcpy(addr.sun_path, cfg_.socket_path.c_str(), cfg_.socket_path.size() + 1);
  struct stat st {};
  if (lstat(cfg_.socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return "socket path exists and is not a socket: " + cfg_.socket_path;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (live) return "another process is listening on " + cfg_.socket_path;
    ::unlink(cfg_.socket_path.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return "socket: " + ErrnoMessage(errno);
  // Created with no access for anyone but the owner, then opened up to the
  // configured mode: no window where the socket is wider than intended.
  mode_t old = umask(0177);
  int r = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (r != 0) return "bind " + cfg_.socket_path + ": " + ErrnoMessage(errno);
  if (chmod(cfg_.socket_path.c_str(), cfg_.socket_mode) != 0) return "chmod: " + ErrnoMessage(errno);
  if (listen(listen_fd_, 512) != 0) return "listen: " + ErrnoMessage(errno);
  return "";
}

std::string Server::ListenMetrics() {
  if (cfg_.metrics_listen.empty()) return "";
  size_t colon = cfg_.metrics_listen.rfind(':');
  if (colon == std::string::npos) return "metrics address must be host:port: " + cfg_.metrics_listen;
  std::string host = cfg_.metrics_listen.substr(0, colon);
  std::string port = cfg_.metrics_listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return "metrics address does not resolve: " + cfg_.metrics_listen;
  }
  metrics_fd_ = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(metrics_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int r = metrics_fd_ < 0 ? -1 : bind(metrics_fd_, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (r != 0 || listen(metrics_fd_, 16) != 0)
    return "metrics listen " + cfg_.metrics_listen + ": " + ErrnoMessage(errno);
  // The address actually bound (port 0 picks a free one).
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char bound_host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (getsockname(metrics_fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, bound_host, sizeof bound_host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    const bool v6 = ss.ss_family == AF_INET6;
    metrics_addr_.clear();
    if (v6) metrics_addr_.push_back('[');
    metrics_addr_.append(bound_host);
    if (v6) metrics_addr_.push_back(']');
    metrics_addr_.push_back(':');
    metrics_addr_.append(serv);
  }
  return "";
}

void Server::Start() {
  uint32_t n = cfg_.workers;
  if (n == 0) n = std::min<uint32_t>(8, std::max(1u, std::thread::hardware_concurrency()));
  for (uint32_t i = 0; i < n; ++i) wake_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  for (uint32_t i = 0; i < n; ++i) threads_.emplace_back([this, i] { Worker(static_cast<int>(i)); });
  if (metrics_fd_ >= 0) metrics_thread_ = std::thread([this] { MetricsLoop(); });
}

void Server::Worker(int index) {
  Loop loop(cfg_, svc_, listen_fd_, wake_fds_[index], &draining_);
  loop.Run();
}

void Server::MetricsLoop() {
  for (;;) {
    int fd = accept4(metrics_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (draining_.load()) return;
      continue;
    }
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[2048];
    size_t got = 0;
    while (got < sizeof req - 1) {
      ssize_t r = ::recv(fd, req + got, sizeof req - 1 - got, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
      req[got] = 0;
      if (std::strstr(req, "\r\n\r\n") != nullptr) break;
    }
    req[got] = 0;
    std::string resp;
    if (std::strncmp(req, "GET /metrics ", 13) == 0 || std::strncmp(req, "GET /metrics?", 13) == 0) {
      std::string body = svc_->RenderMetrics();
      resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
      resp = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    }
    ssize_t w = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
    (void)w;
    ::close(fd);
    if (draining_.load()) return;
  }
}

void Server::Drain() {
  draining_.store(true);
  for (int fd : wake_fds_) {
    uint64_t one = 1;
    ssize_t r = ::write(fd, &one, sizeof one);
    (void)r;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (metrics_fd_ >= 0) {
    ::shutdown(metrics_fd_, SHUT_RDWR);
    if (metrics_thread_.joinable()) metrics_thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    if (::unlink(cfg_.socket_path.c_str()) != 0) {
      Log(Level::kWarn,
          "could not remove the socket file (its directory must be writable by the daemon's user)",
          {{"socket", cfg_.socket_path}, {"error", ErrnoMessage(errno)}});
    }
  }
}

}  // namespace keyhold::daemon
