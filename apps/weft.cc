// The one `weft` binary: `server` and `agent` run daemons, everything else is the client.
#include <string_view>

#include "cli/commands.h"

int ServerMain(int argc, char** argv);  // server_main.cc
int AgentMain(int argc, char** argv);   // agent_main.cc

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "server") return ServerMain(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "agent") return AgentMain(argc - 1, argv + 1);
  return weft::cli::Main(argc, argv);
}
