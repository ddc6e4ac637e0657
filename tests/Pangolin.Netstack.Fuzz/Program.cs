using Pangolin.Fuzzing;
using Pangolin.Netstack.Fuzz;

// dotnet Pangolin.Netstack.Fuzz.dll <packet|tcp> | seed <dir> | replay <target> <file...>
return FuzzHarness.Run(args, "Pangolin.Netstack.Fuzz", FuzzTargets.All, FuzzTargets.Seeds());
