"""Generated protobuf and gRPC code for certflow.v1 (make proto). Do not edit."""
