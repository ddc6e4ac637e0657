using Pangolin.Server.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(PostgresServer))]

// Namespaces, TUN devices and Unix file modes: the suite runs on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
