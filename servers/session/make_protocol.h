// make_protocol.h: builds a connection's protocol state from the context,
// the same way for every model.
#pragma once

#include "models/model.h"
#include "protocol/echo.h"
#include "protocol/http.h"

namespace cb {

template <class P>
P make_protocol(ServerContext& ctx);

template <>
inline proto::EchoProtocol make_protocol<proto::EchoProtocol>(ServerContext& ctx) {
  return proto::EchoProtocol(ctx.stats());
}

template <>
inline proto::HttpProtocol make_protocol<proto::HttpProtocol>(ServerContext& ctx) {
  return proto::HttpProtocol(*ctx.root, ctx.stats());
}

}  // namespace cb
