"""Offline stand-in for @rules_java//java:defs.bzl: Bazel's built-in Java rules.

Every symbol Bazel 4.2.3's @bazel_tools loads from @rules_java. Each one
passes its arguments unchanged to the native rule of the same name.
"""

def java_binary(**attrs):
    native.java_binary(**attrs)

def java_import(**attrs):
    native.java_import(**attrs)

def java_library(**attrs):
    native.java_library(**attrs)

def java_proto_library(**attrs):
    native.java_proto_library(**attrs)

def java_runtime(**attrs):
    native.java_runtime(**attrs)

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)
