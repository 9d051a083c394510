//! ImagePolicy tag selection (semver, alphabetical, numerical; filterTags) with an explanation of every tag.
