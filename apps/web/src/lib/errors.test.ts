import { TRPCClientError } from "@trpc/client";
import { describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { describeError, errorFacts } from "./errors";

/** A client error as the tRPC client builds it from the server's error shape. */
function served(code: string, message: string, retryAfter?: number) {
  return TRPCClientError.from({
    error: { message, code: -32000, data: { code, httpStatus: 400, ...(retryAfter ? { retryAfter } : {}) } },
  });
}

describe("errorFacts", () => {
  it("reads the code and the wait from the error data", () => {
    expect(errorFacts(served("TOO_MANY_REQUESTS", "too many messages; retry in 7 s", 7))).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      retryAfter: 7,
      unreachable: false,
    });
  });

  it("treats an answer-less failure as an unreachable server", () => {
    expect(errorFacts(TRPCClientError.from(new TypeError("Failed to fetch"))).unreachable).toBe(true);
    expect(errorFacts(new TypeError("NetworkError")).unreachable).toBe(true);
  });
});

describe("describeError", () => {
  it("says every error a user can meet in words", () => {
    expect(describeError(served("UNAUTHORIZED", MESSAGES.invalidCredentials), "login").text).toBe("Wrong email or password.");
    expect(describeError(served("CONFLICT", "login is already taken"), "register").text).toMatch(/login is already taken/);
    expect(describeError(served("CONFLICT", "email is already registered"), "register").text).toMatch(/email already exists/);
    expect(describeError(served("NOT_FOUND", MESSAGES.roomNotFound), "join").text).toMatch(/No room has this id/);
    expect(describeError(served("FORBIDDEN", MESSAGES.roomFull), "join").text).toMatch(/room is full/);
    expect(describeError(served("FORBIDDEN", MESSAGES.notOwner), "remove").text).toMatch(/owner/);
    expect(describeError(TRPCClientError.from(new TypeError("Failed to fetch")), "send").kind).toBe("unreachable");
  });

  it("explains the room features' refusals", () => {
    expect(describeError(served("FORBIDDEN", MESSAGES.banned), "join").text).toMatch(/banned from this room/);
    expect(describeError(served("NOT_FOUND", MESSAGES.messageNotFound), "edit").text).toBe("That message no longer exists.");
    expect(describeError(served("CONFLICT", MESSAGES.messageDeleted), "edit").text).toMatch(/was deleted/);
    expect(describeError(served("NOT_FOUND", MESSAGES.memberNotFound), "moderate").text).toMatch(/no longer a member/);
  });

  it("carries the wait of a rate limit", () => {
    const m = describeError(served("TOO_MANY_REQUESTS", "too many messages; retry in 3 s", 3), "send");
    expect(m).toEqual({ kind: "limited", text: "You're sending messages too fast.", retryAfter: 3 });
  });

  it("passes a validation message through as a sentence, and hides internals", () => {
    expect(describeError(served("BAD_REQUEST", "name must not be empty"), "create").text).toBe("Name must not be empty.");
    expect(describeError(served("INTERNAL_SERVER_ERROR", "internal server error"), "send").text).toMatch(/went wrong/);
  });
});
