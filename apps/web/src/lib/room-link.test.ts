import { describe, expect, it } from "vitest";
import { roomIdFrom } from "./room-link";

describe("roomIdFrom", () => {
  it("takes a bare id or the id from a shared link", () => {
    expect(roomIdFrom(" cGoSrJxnQ7spZScB ")).toBe("cGoSrJxnQ7spZScB");
    expect(roomIdFrom("http://localhost:8080/r/cGoSrJxnQ7spZScB")).toBe("cGoSrJxnQ7spZScB");
    expect(roomIdFrom("https://chat.example/r/cGoSrJxnQ7spZScB/?via=mail#top")).toBe("cGoSrJxnQ7spZScB");
  });

  it("refuses what is not a room id", () => {
    expect(roomIdFrom("")).toBeNull();
    expect(roomIdFrom("short")).toBeNull();
    expect(roomIdFrom("http://localhost:8080/r/has-dashes-in-it-x")).toBeNull();
    expect(roomIdFrom("http://localhost:8080/rooms/cGoSrJxnQ7spZScB")).toBeNull();
  });
});
