package agora

// Version is Agora's version, set at build time with
// -ldflags "-X github.com/agorafed/agora/cmd/internal/agora.Version=...".
var Version = "0.1.0-dev"
