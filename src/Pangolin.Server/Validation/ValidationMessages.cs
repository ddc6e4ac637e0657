namespace Pangolin.Server;

/// <summary>Turns DataAnnotations' sentences ("The field X must be …") into fragments that follow a key name.</summary>
public static class ValidationMessages
{
    public static string Normalize(string? message, string member)
    {
        if (string.IsNullOrEmpty(message))
        {
            return "is invalid";
        }
        var fieldPrefix = $"The field {member} ";
        if (message.StartsWith(fieldPrefix, StringComparison.Ordinal))
        {
            message = message[fieldPrefix.Length..];
        }
        else if (message == $"The {member} field is required.")
        {
            message = "is required";
        }
        else if (message.StartsWith($"The {member} field ", StringComparison.Ordinal))
        {
            message = message[$"The {member} field ".Length..];
        }
        else if (message.StartsWith($"The {member} ", StringComparison.Ordinal))
        {
            message = message[$"The {member} ".Length..];
        }
        return message.TrimEnd('.');
    }
}
