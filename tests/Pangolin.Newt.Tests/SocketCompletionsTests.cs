namespace Pangolin.Newt.Tests;

[Collection(nameof(SocketCompletionsTests))]
public sealed class SocketCompletionsTests
{
    [Fact]
    public void Newt_asks_for_inline_socket_completions_unless_the_user_chose_otherwise()
    {
        var before = Environment.GetEnvironmentVariable(SocketCompletions.Variable);
        try
        {
            Environment.SetEnvironmentVariable(SocketCompletions.Variable, null);
            SocketCompletions.PreferInline();
            Assert.Equal("1", Environment.GetEnvironmentVariable(SocketCompletions.Variable));

            Environment.SetEnvironmentVariable(SocketCompletions.Variable, "0");
            SocketCompletions.PreferInline();
            Assert.Equal("0", Environment.GetEnvironmentVariable(SocketCompletions.Variable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(SocketCompletions.Variable, before);
        }
    }
}
