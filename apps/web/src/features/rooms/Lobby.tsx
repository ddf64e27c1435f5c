import { useRef } from "react";
import { useScreen } from "../../app/useScreen";
import { InfoNotice } from "../../components/Notice";
import { CreateRoomForm } from "./CreateRoomForm";
import { JoinRoomForm } from "./JoinRoomForm";
import { RoomList } from "./RoomList";

/** The home screen: my rooms, and creating or joining one. */
export function Lobby({ flash, myId }: { flash: string | null; myId: number }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useScreen("Your rooms", heading);
  return (
    <main id="main" className="lobby">
      <h1 className="sr-only" ref={heading} tabIndex={-1}>
        Your rooms
      </h1>
      {flash ? <InfoNotice>{flash}</InfoNotice> : null}
      <div className="lobby-grid">
        <div className="card">
          <RoomList myId={myId} />
        </div>
        <div className="card stack">
          <CreateRoomForm />
          <JoinRoomForm />
        </div>
      </div>
    </main>
  );
}
