// The QuickFIX C++ baseline of `ordex perf fix`: an acceptor built from Debian's libquickfix
// that answers every NewOrderSingle with one ExecutionReport (New), messages kept in a
// FileStore, no message log (ordex logs no messages either).  It does no matching and no risk
// checks: it is the floor of what a FIX engine must do per order, not a competing exchange.
//
// Built at run time by perf/fix_quickfix.py:
//     g++ -std=c++14 -O2 acceptor.cpp -o acceptor -lquickfix -lpthread
// (C++17 rejects the throw() specifications in QuickFIX 1.15's headers.)
//     ./acceptor SETTINGS_FILE      prints "ready" once listening, runs until SIGTERM/SIGINT
#include <csignal>
#include <iostream>
#include <string>

#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/MessageCracker.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <quickfix/fix44/NewOrderSingle.h>

namespace {

class Acker : public FIX::Application, public FIX::MessageCracker {
 public:
  void onCreate(const FIX::SessionID &) override {}
  void onLogon(const FIX::SessionID &) override {}
  void onLogout(const FIX::SessionID &) override {}
  void toAdmin(FIX::Message &, const FIX::SessionID &) override {}
  void toApp(FIX::Message &, const FIX::SessionID &) throw(FIX::DoNotSend) override {}
  void fromAdmin(const FIX::Message &, const FIX::SessionID &)
      throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
            FIX::RejectLogon) override {}
  void fromApp(const FIX::Message &message, const FIX::SessionID &session)
      throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
            FIX::UnsupportedMessageType) override {
    crack(message, session);
  }

  void onMessage(const FIX44::NewOrderSingle &order, const FIX::SessionID &session) override {
    FIX::ClOrdID clordid;
    FIX::Side side;
    FIX::Symbol symbol;
    FIX::OrderQty qty;
    order.get(clordid);
    order.get(side);
    order.get(symbol);
    order.get(qty);
    const std::string id = std::to_string(++next_id_);
    FIX44::ExecutionReport er{FIX::OrderID(id), FIX::ExecID(id), FIX::ExecType(FIX::ExecType_NEW),
                              FIX::OrdStatus(FIX::OrdStatus_NEW), side, FIX::LeavesQty(qty),
                              FIX::CumQty(0), FIX::AvgPx(0)};
    er.set(clordid);
    er.set(symbol);
    er.set(qty);
    if (order.isSetField(FIX::FIELD::Price)) {
      FIX::Price price;
      order.get(price);
      er.set(price);
    }
    er.set(FIX::TransactTime(6));
    FIX::Session::sendToTarget(er, session);
  }

 private:
  unsigned long long next_id_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: acceptor SETTINGS_FILE\n";
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  // Blocked before QuickFIX starts its thread, so that only sigwait below receives them.
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    FIX::SessionSettings settings(argv[1]);
    Acker app;
    FIX::FileStoreFactory store(settings);
    FIX::SocketAcceptor acceptor(app, store, settings);
    acceptor.start();
    std::cout << "ready" << std::endl;
    int sig = 0;
    sigwait(&stop, &sig);
    acceptor.stop();
  } catch (const std::exception &e) {
    std::cerr << "acceptor: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
