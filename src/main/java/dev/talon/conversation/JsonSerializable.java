package dev.talon.conversation;

/**
 * Marker for messages and events serialized with Jackson (bound in application.conf): commands
 * and live turn events cross nodes, and journaled events must stay readable after refactoring.
 */
public interface JsonSerializable {}
