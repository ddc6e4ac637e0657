using Pangolin.Fuzzing;
using Pangolin.Protocol.Fuzz;

// dotnet Pangolin.Protocol.Fuzz.dll <frame|gzip|target> | seed <dir> | replay <target> <file...>
return FuzzHarness.Run(args, "Pangolin.Protocol.Fuzz", FuzzTargets.All, FuzzTargets.Seeds());
