using Pangolin.Fuzzing;
using Pangolin.WireGuard.Fuzz;

// dotnet Pangolin.WireGuard.Fuzz.dll <datagram|uapi|ippacket|tunoffload> | seed <dir> | replay <target> <file...>
return FuzzHarness.Run(args, "Pangolin.WireGuard.Fuzz", FuzzTargets.All, FuzzTargets.Seeds());
