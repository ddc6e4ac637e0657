using System.Buffers;

namespace Pangolin.Edge.Rules;

/// <summary>
/// A PATH rule's pattern, matched segment by segment as upstream's <c>isPathAllowed</c>
/// (<c>server/routers/badger/verifySession.ts</c>) does:
/// <list type="bullet">
/// <item>Pattern and path are split on <c>/</c> and empty segments are dropped, so a leading, trailing or doubled slash
/// changes nothing: <c>/a/b/</c> matches <c>/a//b</c>, and the pattern <c>/</c> matches only the root.</item>
/// <item>A segment that is exactly <c>*</c> stands for any number of whole segments, none included:
/// <c>/api/*</c> matches <c>/api</c>, <c>/api/x</c> and <c>/api/x/y</c>.</item>
/// <item>A segment containing <c>*</c> elsewhere is a glob on that one segment: <c>*</c> is any run of characters and,
/// in such a segment only, <c>?</c> is one character (<c>/img/*.png</c>, <c>/v?/*</c> is literal <c>v?</c>).</item>
/// <item>Any other segment must be equal, case-sensitively.</item>
/// </list>
/// The path is compared as given: the caller passes the request's decoded path without the query, which is what
/// badger sends upstream (Go's <c>req.URL.Path</c>); a pattern is not percent-decoded.
/// Two deliberate differences: upstream turns a glob segment into a regular expression without escaping, so there a
/// <c>.</c> matches any character and a stray <c>(</c> breaks every request to the resource; here every character
/// but <c>*</c> and <c>?</c> is literal. And upstream gives up (no match) beyond 100 recursive steps, i.e. on paths
/// of roughly 50 segments or more, where this matcher (dynamic programming, no recursion) still answers.
/// </summary>
internal sealed class PathPattern
{
    private const int StackSegments = 32;

    private readonly Segment[] _segments;

    private PathPattern(Segment[] segments) => _segments = segments;

    public static PathPattern Parse(string pattern)
    {
        var segments = new List<Segment>();
        foreach (var range in pattern.AsSpan().Split('/'))
        {
            var part = pattern[range];
            if (part.Length == 0)
            {
                continue;
            }

            var kind = part == "*" ? SegmentKind.AnySegments
                : part.Contains('*', StringComparison.Ordinal) ? SegmentKind.Glob
                : SegmentKind.Literal;
            segments.Add(new Segment(kind, part));
        }

        return new PathPattern([.. segments]);
    }

    public bool IsMatch(ReadOnlySpan<char> path)
    {
        // Segment bounds of the path as (start, length) pairs; on the stack for ordinary paths.
        var count = CountSegments(path);
        int[]? rented = null;
        Span<int> bounds = count <= StackSegments
            ? stackalloc int[StackSegments * 2]
            : (rented = ArrayPool<int>.Shared.Rent(count * 2));
        try
        {
            var n = 0;
            foreach (var range in path.Split('/'))
            {
                var (start, length) = range.GetOffsetAndLength(path.Length);
                if (length > 0)
                {
                    bounds[n * 2] = start;
                    bounds[(n * 2) + 1] = length;
                    n++;
                }
            }

            return Match(path, bounds[..(n * 2)], n);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    private static int CountSegments(ReadOnlySpan<char> path)
    {
        var count = 0;
        var inSegment = false;
        foreach (var c in path)
        {
            if (c == '/')
            {
                inSegment = false;
            }
            else if (!inSegment)
            {
                inSegment = true;
                count++;
            }
        }

        return count;
    }

    /// <summary>
    /// match(i, j) = pattern segments i.. match path segments j..; computed from the last pattern segment back, one
    /// row per pattern segment. The recurrence is upstream's recursion, memoized.
    /// </summary>
    private bool Match(ReadOnlySpan<char> path, ReadOnlySpan<int> bounds, int n)
    {
        bool[]? rented = null;
        Span<bool> rows = n + 1 <= StackSegments + 1
            ? stackalloc bool[(StackSegments + 1) * 2]
            : (rented = ArrayPool<bool>.Shared.Rent((n + 1) * 2));
        try
        {
            var next = rows[..(n + 1)];
            var current = rows.Slice(n + 1, n + 1);

            // Past the last pattern segment: only the end of the path matches.
            next.Clear();
            next[n] = true;

            for (var i = _segments.Length - 1; i >= 0; i--)
            {
                var segment = _segments[i];
                for (var j = n; j >= 0; j--)
                {
                    if (segment.Kind == SegmentKind.AnySegments)
                    {
                        // Skip the wildcard, or let it take path segment j and stay.
                        current[j] = next[j] || (j < n && current[j + 1]);
                    }
                    else if (j == n)
                    {
                        current[j] = false;
                    }
                    else
                    {
                        var part = path.Slice(bounds[j * 2], bounds[(j * 2) + 1]);
                        var same = segment.Kind == SegmentKind.Glob
                            ? GlobMatch(segment.Text, part)
                            : part.SequenceEqual(segment.Text);
                        current[j] = same && next[j + 1];
                    }
                }

                var swap = next;
                next = current;
                current = swap;
            }

            return next[0];
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<bool>.Shared.Return(rented);
            }
        }
    }

    /// <summary>One segment against a glob with <c>*</c> (any run) and <c>?</c> (one character); greedy with backtracking.</summary>
    internal static bool GlobMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]) && pattern[p] != '*')
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private enum SegmentKind
    {
        Literal,
        AnySegments,
        Glob,
    }

    private readonly record struct Segment(SegmentKind Kind, string Text);
}
