import { InfoNotice } from "../../components/Notice";
import { CreateRoomForm } from "./CreateRoomForm";
import { JoinRoomForm } from "./JoinRoomForm";
import { RoomList } from "./RoomList";

/** The home screen: my rooms, and creating or joining one. */
export function Lobby({ flash }: { flash: string | null }) {
  return (
    <main id="main" className="lobby" tabIndex={-1}>
      <h1 className="sr-only">Your rooms</h1>
      {flash ? <InfoNotice>{flash}</InfoNotice> : null}
      <div className="lobby-grid">
        <div className="card">
          <RoomList />
        </div>
        <div className="card stack">
          <CreateRoomForm />
          <JoinRoomForm />
        </div>
      </div>
    </main>
  );
}
