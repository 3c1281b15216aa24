"""The gRPC edge: servicers and protobuf ⇄ core conversion. Proto types stop here."""
