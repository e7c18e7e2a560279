"""Repository rules of the root WORKSPACE (offline: nothing is downloaded)."""

def _native_build_manifest_impl(rctx):
    manifest = json.decode(rctx.read(rctx.attr.manifest))
    rctx.file("BUILD", "# Generated from %s.\n" % rctx.attr.manifest)
    rctx.file(
        "defs.bzl",
        "\n".join([
            '"""Generated from %s by third_party/repositories.bzl."""' % rctx.attr.manifest,
            "",
            "# The parsed JSON: sources (glob patterns) and flags of every build.",
            "NATIVE_BUILD = %r" % (manifest,),
            "",
        ]),
    )

native_build_manifest = repository_rule(
    implementation = _native_build_manifest_impl,
    attrs = {
        "manifest": attr.label(allow_single_file = True, mandatory = True),
    },
    local = True,
    doc = "Exposes export/native_build.json to BUILD as NATIVE_BUILD in defs.bzl.",
)

_GTEST_BUILD = """
# GoogleTest of the system (Debian: libgtest-dev), found by
# third_party/repositories.bzl.
cc_library(
    name = "gtest",
    srcs = ["lib/libgtest.a"],
    hdrs = glob(["include/gtest/**/*.h"]),
    includes = ["include"],
    linkopts = ["-pthread"],
    visibility = ["//visibility:public"],
)

cc_library(
    name = "gtest_main",
    srcs = ["lib/libgtest_main.a"],
    visibility = ["//visibility:public"],
    deps = [":gtest"],
)
"""

def _system_gtest_impl(rctx):
    include = None
    for prefix in rctx.attr.prefixes:
        if rctx.path(prefix + "/include/gtest/gtest.h").exists:
            include = prefix + "/include/gtest"
            break
    libdirs = []
    cc = rctx.which("cc") or rctx.which("gcc")
    if cc:
        multiarch = rctx.execute([cc, "-print-multiarch"]).stdout.strip()
        if multiarch:
            libdirs += [p + "/lib/" + multiarch for p in rctx.attr.prefixes]
    libdirs += [p + "/" + lib for p in rctx.attr.prefixes for lib in ("lib64", "lib")]
    libdir = None
    for d in libdirs:
        if (rctx.path(d + "/libgtest.a").exists and
            rctx.path(d + "/libgtest_main.a").exists):
            libdir = d
            break
    if include == None or libdir == None:
        fail(("GoogleTest not found: looked for include/gtest/gtest.h under %s and " +
              "libgtest.a + libgtest_main.a in %s. Install Debian's libgtest-dev " +
              "(make setup does).") % (rctx.attr.prefixes, libdirs))
    rctx.symlink(include, "include/gtest")
    rctx.symlink(libdir + "/libgtest.a", "lib/libgtest.a")
    rctx.symlink(libdir + "/libgtest_main.a", "lib/libgtest_main.a")
    rctx.file("BUILD", _GTEST_BUILD)

system_gtest = repository_rule(
    implementation = _system_gtest_impl,
    attrs = {
        "prefixes": attr.string_list(default = ["/usr", "/usr/local"]),
    },
    local = True,
    doc = "GoogleTest installed on the system, as :gtest and :gtest_main.",
)
