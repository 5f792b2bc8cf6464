using System.Text.RegularExpressions;
using Xunit;

namespace Reactive.Management.Tests;

/// <summary>
/// The library's folders depend on each other one way, as docs/architecture.md draws it: a new arrow fails here until
/// it is drawn there too (and a drawn arrow that makes a cycle fails anyway).
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>Each folder and the folders it may use; the same graph as docs/architecture.md.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Protocol"] = [],
        ["Scheduling"] = [],
        ["Diagnostics"] = [],
        ["Crypto"] = ["Protocol"],
        ["Streams"] = ["Crypto", "Protocol"],
        ["Client"] = ["Streams", "Crypto", "Protocol"],
        ["Peers"] = ["Crypto"],
        ["Jobs"] = ["Peers", "Crypto", "Protocol", "Diagnostics"],
        ["Events"] = ["Jobs", "Peers", "Diagnostics"],
        ["Storage"] = ["Events", "Jobs", "Peers", "Crypto", "Protocol"],
        ["Replicas"] = ["Jobs", "Storage", "Crypto", "Diagnostics"],
        ["Hosting"] = ["Replicas", "Storage", "Events", "Jobs", "Peers", "Streams", "Scheduling", "Crypto", "Protocol", "Diagnostics"],
    };

    [Fact]
    public void Every_folder_uses_only_the_folders_the_architecture_allows()
    {
        var library = Path.Combine(RepositoryRoot(), "Reactive.Management");
        var used = new List<string>();
        foreach (var folder in Directory.GetDirectories(library).Select(Path.GetFileName).Where(name => name is not ("bin" or "obj")))
        {
            Assert.True(Allowed.ContainsKey(folder!), $"the folder {folder} is not in the architecture's graph");
            foreach (var file in Directory.EnumerateFiles(Path.Combine(library, folder!), "*.cs", SearchOption.AllDirectories))
            {
                foreach (Match reference in FolderReference().Matches(File.ReadAllText(file)))
                {
                    var target = reference.Groups["folder"].Value;
                    if (target != folder && Allowed.ContainsKey(target) && !Allowed[folder!].Contains(target))
                    {
                        used.Add($"{Path.GetRelativePath(library, file)} uses {target}");
                    }
                }
            }
        }

        Assert.True(used.Count == 0, "arrows the architecture does not allow:\n" + string.Join("\n", used.Distinct()));
    }

    [Fact]
    public void The_allowed_graph_has_no_cycle()
    {
        var state = new Dictionary<string, int>();
        foreach (var folder in Allowed.Keys)
        {
            Visit(folder, []);
        }

        void Visit(string folder, List<string> path)
        {
            if (state.GetValueOrDefault(folder) == 2)
            {
                return;
            }

            Assert.False(state.GetValueOrDefault(folder) == 1, "cycle: " + string.Join(" → ", path.Append(folder)));
            state[folder] = 1;
            foreach (var next in Allowed[folder])
            {
                Visit(next, [.. path, folder]);
            }

            state[folder] = 2;
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ReactiveMgmt.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ReactiveMgmt.sln not found above " + AppContext.BaseDirectory);
    }

    // `using Reactive.Management.X;`, `Reactive.Management.X.Type`, and `X.Type` in a cref.
    [GeneratedRegex(@"Reactive\.Management\.(?<folder>[A-Z][A-Za-z]+)\b|cref=""(?<folder>[A-Z][A-Za-z]+)\.")]
    private static partial Regex FolderReference();
}
