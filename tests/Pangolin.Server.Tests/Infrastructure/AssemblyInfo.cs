using Pangolin.Server.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(PostgresServer))]
