// A scriptable FIX initiator on QuickFIX C++ (Debian libquickfix-dev): the independent peer of
// the interop tests.  It reads one command per line on stdin and prints one event per line on
// stdout; tests/interop/qfclient.py drives it.
//
//   usage: quickfix_initiator SETTINGS_FILE
//   (settings: a QuickFIX initiator config with one [SESSION]; optional keys Username and
//    Password are put on the Logon)
//
// Commands                                   Answer (always one line, after any events)
//   logon [timeout_s]                          OK logon | ERROR logon timeout
//   order ClOrdID Side Qty Price Symbol        OK order <MsgSeqNum>   (NewOrderSingle, limit)
//   send MsgType tag=value ...                 OK send <MsgSeqNum>    (value "now": UTC time)
//   wait MsgType N [timeout_s]                 OK wait | ERROR wait <MsgType> got <k>
//       (N messages of MsgType received in total since start, admin or application)
//   seq                                        OK seq <next sender> <next target>
//   set_next_sender N | set_next_target N      OK ... (forces a sequence gap either way)
//   disconnect                                 OK disconnect   (Logout handshake; the next
//                                                               logon starts a new initiator)
//   drop                                       OK drop         (socket closed without Logout;
//                                                               QuickFIX reconnects by itself
//                                                               every second: "logon" waits)
//   sleep ms                                   OK sleep
//   quit                                       OK quit
// Events: LOGON | LOGOUT | RECV <admin|app> <MsgType> <tag=value|tag=value|...>
#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex out_mutex;

void emit(const std::string& line) {
  std::lock_guard<std::mutex> lock(out_mutex);
  std::cout << line << std::endl;
}

std::string flat(const FIX::Message& m) {
  std::string s = m.toString();
  std::replace(s.begin(), s.end(), '\x01', '|');
  return s;
}

class Client : public FIX::Application {
 public:
  explicit Client(const FIX::SessionSettings& settings) : settings_(settings) {}

  void onCreate(const FIX::SessionID&) override {}

  void onLogon(const FIX::SessionID&) override {
    emit("LOGON");
    std::lock_guard<std::mutex> lock(mutex_);
    logged_on_ = true;
    changed_.notify_all();
  }

  void onLogout(const FIX::SessionID&) override {
    emit("LOGOUT");
    std::lock_guard<std::mutex> lock(mutex_);
    logged_on_ = false;
    changed_.notify_all();
  }

  void toAdmin(FIX::Message& m, const FIX::SessionID& id) override {
    FIX::MsgType type;
    m.getHeader().getField(type);
    if (type.getValue() != "A") return;
    const FIX::Dictionary& d = settings_.get(id);
    if (d.has("Username")) m.setField(553, d.getString("Username"));
    if (d.has("Password")) m.setField(554, d.getString("Password"));
  }

  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& m, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    received("admin", m);
  }

  void fromApp(const FIX::Message& m, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    received("app", m);
  }

  void forget_logon() {
    std::lock_guard<std::mutex> lock(mutex_);
    logged_on_ = false;
  }

  bool wait_logged_on(bool want, double timeout_s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                             [&] { return logged_on_ == want; });
  }

  int wait_count(const std::string& type, int n, double timeout_s) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                      [&] { return counts_[type] >= n; });
    return counts_[type];
  }

 private:
  void received(const char* kind, const FIX::Message& m) {
    FIX::MsgType type;
    m.getHeader().getField(type);
    emit(std::string("RECV ") + kind + " " + type.getValue() + " " + flat(m));
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[type.getValue()] += 1;
    changed_.notify_all();
  }

  const FIX::SessionSettings& settings_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool logged_on_ = false;
  std::map<std::string, int> counts_;
};

// Send a message with the body fields given as tag=value words; returns its MsgSeqNum.
int send(FIX::Session* session, const std::string& type, const std::vector<std::string>& fields) {
  FIX::Message m;
  m.getHeader().setField(FIX::MsgType(type));
  for (const std::string& f : fields) {
    size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("bad field " + f);
    int tag = std::stoi(f.substr(0, eq));
    std::string value = f.substr(eq + 1);
    if (value == "now") value = FIX::UtcTimeStampConvertor::convert(FIX::UtcTimeStamp(), 3);
    m.setField(tag, value);
  }
  int seq = session->getExpectedSenderNum();
  if (!session->send(m)) throw std::runtime_error("not sent (not logged on?)");
  return seq;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " SETTINGS_FILE\n";
    return 2;
  }
  try {
    FIX::SessionSettings settings(argv[1]);
    Client app(settings);
    FIX::SessionID id = *settings.getSessions().begin();
    bool fix42 = id.getBeginString().getValue() == "FIX.4.2";
    std::unique_ptr<FIX::FileStoreFactory> stores;
    std::unique_ptr<FIX::FileLogFactory> logs;
    std::unique_ptr<FIX::SocketInitiator> initiator;
    auto session = [&]() -> FIX::Session* {
      FIX::Session* s = FIX::Session::lookupSession(id);
      if (!s) throw std::runtime_error("no session: logon first");
      return s;
    };

    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string cmd;
      if (!(in >> cmd)) continue;
      try {
        if (cmd == "logon") {
          double timeout = 10;
          in >> timeout;
          if (!initiator) {
            // A new initiator each time: the FileStore reopens with the sequence numbers.
            app.forget_logon();
            stores.reset(new FIX::FileStoreFactory(settings));
            logs.reset(new FIX::FileLogFactory(settings));
            initiator.reset(new FIX::SocketInitiator(app, *stores, settings, *logs));
            initiator->start();
          }
          emit(app.wait_logged_on(true, timeout) ? "OK logon" : "ERROR logon timeout");
        } else if (cmd == "order") {
          std::string clordid, side, qty, price, symbol;
          in >> clordid >> side >> qty >> price >> symbol;
          std::vector<std::string> f = {"11=" + clordid, "54=" + side, "38=" + qty,
                                        "44=" + price, "55=" + symbol, "40=2", "60=now"};
          if (fix42) f.push_back("21=1");
          emit("OK order " + std::to_string(send(session(), "D", f)));
        } else if (cmd == "send") {
          std::string type, word;
          std::vector<std::string> f;
          in >> type;
          while (in >> word) f.push_back(word);
          emit("OK send " + std::to_string(send(session(), type, f)));
        } else if (cmd == "wait") {
          std::string type;
          int n = 1;
          double timeout = 10;
          in >> type >> n >> timeout;
          int got = app.wait_count(type, n, timeout);
          emit(got >= n ? "OK wait" : "ERROR wait " + type + " got " + std::to_string(got));
        } else if (cmd == "seq") {
          FIX::Session* s = session();
          emit("OK seq " + std::to_string(s->getExpectedSenderNum()) + " " +
               std::to_string(s->getExpectedTargetNum()));
        } else if (cmd == "set_next_sender" || cmd == "set_next_target") {
          int n = 0;
          in >> n;
          if (n < 1) throw std::runtime_error("sequence number must be >= 1");
          if (cmd == "set_next_sender") session()->setNextSenderMsgSeqNum(n);
          else session()->setNextTargetMsgSeqNum(n);
          emit("OK " + cmd);
        } else if (cmd == "disconnect") {
          if (initiator) {
            initiator->stop();
            initiator.reset();
          }
          app.forget_logon();
          emit("OK disconnect");
        } else if (cmd == "drop") {
          session()->disconnect();
          app.wait_logged_on(false, 5);
          emit("OK drop");
        } else if (cmd == "sleep") {
          int ms = 0;
          in >> ms;
          std::this_thread::sleep_for(std::chrono::milliseconds(ms));
          emit("OK sleep");
        } else if (cmd == "quit") {
          if (initiator) initiator->stop(true);
          initiator.reset();
          emit("OK quit");
          return 0;
        } else {
          emit("ERROR unknown command " + cmd);
        }
      } catch (const std::exception& e) {
        emit("ERROR " + cmd + " " + e.what());
      }
    }
    if (initiator) initiator->stop(true);
  } catch (const std::exception& e) {
    std::cerr << "quickfix_initiator: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
