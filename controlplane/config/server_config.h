#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// server: with every default applied (listen 127.0.0.1:8787, 32 MiB body, 64 KiB headers, the
// timeouts of example.yaml, auth open).
ccrelay::v1::Server DefaultServer();
// logging: level info, format text.
ccrelay::v1::Logging DefaultLogging();

// Reads `server:` (absent = all defaults); problems go to `reader`.
ccrelay::v1::Server ReadServer(ConfigReader& reader, const Field& field);
// Reads `logging:` (absent = all defaults).
ccrelay::v1::Logging ReadLogging(ConfigReader& reader, const Field& field);

}  // namespace ccrelay::controlplane
