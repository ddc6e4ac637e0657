using System.Text;

namespace Pangolin.Server.Apis;

/// <summary>Readable ids for sites and resources, made from their names ("Home Lab" → "home-lab").</summary>
public static class NiceIds
{
    public static string Slug(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name.Trim().ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                sb.Append(c);
            }
            else if (sb.Length > 0 && sb[^1] != '-')
            {
                sb.Append('-');
            }
        }
        var slug = sb.ToString().Trim('-');
        if (slug.Length > 48)
        {
            slug = slug[..48].Trim('-');
        }
        return slug.Length == 0 ? "item" : slug;
    }

    /// <summary>The slug of the name, or the slug with a short random suffix when taken.</summary>
    public static async Task<string> UniqueAsync(string name, Func<string, Task<bool>> taken)
    {
        ArgumentNullException.ThrowIfNull(taken);
        var slug = Slug(name);
        if (!await taken(slug))
        {
            return slug;
        }
        for (var i = 0; i < 20; i++)
        {
            var candidate = $"{slug}-{Auth.Secrets.Id(4)}";
            if (!await taken(candidate))
            {
                return candidate;
            }
        }
        return $"{slug}-{Auth.Secrets.Id(12)}";
    }
}
