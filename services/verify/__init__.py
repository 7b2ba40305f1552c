"""verify: public verification of certificates over gRPC, HTTP and a web page."""
