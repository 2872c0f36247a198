// Package layering holds no code, only the test that keeps Rotor's
// packages in their layers: no package of internal/ imports one above it,
// every package has a place in the table, and the public libraries
// (resource, client) import nothing of internal/. The layers and the
// table are drawn in docs/design.md; the test checks that the two agree.
package layering
